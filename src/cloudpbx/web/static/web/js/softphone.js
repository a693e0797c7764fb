/* The browser softphone of an app terminal (terminals/softphone.html): JsSIP over the PBX's
 * secure WebSocket, media by WebRTC (the PBX's relay bridges it to desk phones and the trunk).
 *
 * The page gives the settings and texts as JSON (#softphone-config, #softphone-text): no
 * inline script (CSP). The SIP credential is the page's own and expires; a fresh one is fetched
 * before it does. One call at a time: a second incoming call is answered "busy".
 */
(function () {
  "use strict";

  var root = document.getElementById("softphone");
  if (!root || !window.JsSIP) return;
  var config = JSON.parse(document.getElementById("softphone-config").textContent);
  var text = JSON.parse(document.getElementById("softphone-text").textContent);
  var $ = function (id) { return document.getElementById("softphone-" + id); };
  var MEDIA = { audio: true, video: false };
  var PEER_CONNECTION = { iceServers: [] }; // the relay has a public address: no STUN needed

  var ua = null;
  var session = null;
  var registered = false;
  var timers = { duration: null, stats: null, credential: null };

  function say(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, name) {
      return values && values[name] !== undefined ? values[name] : "";
    });
  }

  function show(state, status) {
    root.dataset.state = state;
    if (status !== undefined) $("status").textContent = status;
    $("incoming").hidden = state !== "incoming";
    $("call").hidden = state !== "calling" && state !== "in-call";
    $("dial").hidden = state === "incoming" || state === "calling" || state === "in-call";
    $("call-button").disabled = !registered;
  }

  function idle(status) {
    show(registered ? "ready" : "offline", status || (registered ? text.ready : text.offline));
  }

  function fail(message) {
    var error = $("error");
    error.textContent = message || "";
    error.hidden = !message;
  }

  function peerName(uri, displayName) {
    var user = uri && uri.user;
    if (!user || user === "anonymous") return displayName || text.anonymous;
    return displayName ? displayName + " (" + user + ")" : user;
  }

  /* ---------- registration ---------- */

  function start() {
    var socket = new JsSIP.WebSocketInterface(config.server);
    ua = new JsSIP.UA({
      sockets: [socket],
      uri: config.uri,
      authorization_user: config.credential.username,
      password: config.credential.password,
      display_name: config.displayName,
      register: true,
      register_expires: 300,
      session_timers: false,
      user_agent: "cloudpbx softphone",
    });
    ua.on("connected", function () { fail(""); });
    ua.on("disconnected", function () {
      registered = false;
      if (!session) show("offline", text.unreachable);
    });
    ua.on("registered", function () {
      registered = true;
      fail("");
      if (!session) idle();
    });
    ua.on("unregistered", function () {
      registered = false;
      if (!session) idle();
    });
    ua.on("registrationFailed", function (event) {
      registered = false;
      var refused = event.cause === JsSIP.C.causes.AUTHENTICATION_ERROR ||
        event.cause === JsSIP.C.causes.REJECTED;
      show("offline", refused ? text.refused : text.unreachable);
    });
    ua.on("newRTCSession", function (event) {
      if (event.originator === "remote") incoming(event.session);
    });
    ua.start();
    scheduleCredential(config.credential.expires);
  }

  function scheduleCredential(expires) {
    // Renewed ten minutes before it expires (or at once if the clock says it already has).
    var wait = Math.max((expires - 600) * 1000 - Date.now(), 5000);
    clearTimeout(timers.credential);
    timers.credential = setTimeout(renewCredential, wait);
  }

  function renewCredential() {
    fetch(config.credentialUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (credential) {
        ua.set("authorization_user", credential.username);
        ua.set("password", credential.password);
        scheduleCredential(credential.expires);
      })
      .catch(function () {
        timers.credential = setTimeout(renewCredential, 30000); // logged out or offline
      });
  }

  /* ---------- calls ---------- */

  function track(current) {
    session = current;
    current.on("peerconnection", function (event) { listen(event.peerconnection); });
    if (current.connection) listen(current.connection);
    current.on("progress", function () {
      if (current.direction === "outgoing") {
        show("calling", say(text.ringing, { peer: $("peer").textContent }));
      }
    });
    current.on("confirmed", function () { connected(); });
    current.on("ended", function () { finished(text.ended); });
    current.on("failed", function (event) { finished(failure(event)); });
  }

  function listen(connection) {
    connection.addEventListener("track", function (event) {
      var stream = event.streams && event.streams[0];
      $("remote").srcObject = stream || new MediaStream([event.track]);
    });
  }

  function failure(event) {
    var causes = JsSIP.C.causes;
    switch (event.cause) {
      case causes.CANCELED: return event.originator === "local" ? text.ended : "";
      case causes.BUSY: return text.busy;
      case causes.NOT_FOUND: return text.notFound;
      case causes.UNAVAILABLE: case causes.NO_ANSWER: case causes.REQUEST_TIMEOUT:
        return text.unavailable;
      case causes.REJECTED: return text.rejected;
      case causes.USER_DENIED_MEDIA_ACCESS: return text.microphone;
      case causes.BYE: return text.ended;
      default: return say(text.failed, { cause: event.cause });
    }
  }

  function call(number) {
    fail("");
    $("peer").textContent = number;
    var current = ua.call(number, {
      mediaConstraints: MEDIA,
      pcConfig: PEER_CONNECTION,
    });
    track(current);
    show("calling", say(text.calling, { peer: number }));
  }

  function incoming(current) {
    if (session) {
      current.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    fail("");
    var caller = peerName(current.remote_identity.uri, current.remote_identity.display_name);
    $("caller").textContent = caller;
    $("peer").textContent = caller;
    track(current);
    show("incoming", say(text.incoming, { peer: caller }));
  }

  function connected() {
    var started = Date.now();
    show("in-call", say(text.inCall, { peer: $("peer").textContent }));
    clearInterval(timers.duration);
    timers.duration = setInterval(function () {
      var seconds = Math.floor((Date.now() - started) / 1000);
      var minutes = Math.floor(seconds / 60);
      $("duration").textContent = minutes + ":" + String(seconds % 60).padStart(2, "0");
    }, 1000);
    clearInterval(timers.stats);
    timers.stats = setInterval(showAudio, 1000);
  }

  function showAudio() {
    // What reaches this browser, from WebRTC's own counters: shown, so a user sees one-way
    // audio at once (and the browser tests read it).
    if (!session || !session.connection) return;
    session.connection.getStats().then(function (report) {
      report.forEach(function (stat) {
        if (stat.type !== "inbound-rtp" || stat.kind !== "audio") return;
        var line = $("audio-state");
        line.dataset.packets = String(stat.packetsReceived || 0);
        line.dataset.bytes = String(stat.bytesReceived || 0);
        line.dataset.level = String(stat.audioLevel || 0);
        var receiving = (stat.packetsReceived || 0) > 0;
        line.textContent = receiving ? text.audio : text.noAudio;
        line.classList.toggle("muted", !receiving);
      });
    });
  }

  function finished(message) {
    clearInterval(timers.duration);
    clearInterval(timers.stats);
    session = null;
    $("remote").srcObject = null;
    $("duration").textContent = "0:00";
    $("mute").setAttribute("aria-pressed", "false");
    $("mute").textContent = text.mute;
    var line = $("audio-state");
    line.dataset.packets = line.dataset.bytes = line.dataset.level = "0";
    line.textContent = text.noAudio;
    fail(message && message !== text.ended ? message : "");
    idle(message === text.ended ? text.ended : undefined);
  }

  /* ---------- controls ---------- */

  $("dial").addEventListener("submit", function (event) {
    event.preventDefault();
    var number = $("number").value.replace(/[\s\-./()]/g, "");
    if (number && registered && !session) call(number);
  });
  $("answer").addEventListener("click", function () {
    if (session) session.answer({ mediaConstraints: MEDIA, pcConfig: PEER_CONNECTION });
  });
  $("decline").addEventListener("click", function () {
    if (session) session.terminate({ status_code: 603, reason_phrase: "Decline" });
  });
  $("hangup").addEventListener("click", function () {
    if (session) session.terminate();
  });
  $("mute").addEventListener("click", function () {
    if (!session) return;
    var muted = session.isMuted().audio;
    if (muted) session.unmute({ audio: true }); else session.mute({ audio: true });
    this.setAttribute("aria-pressed", String(!muted));
    this.textContent = muted ? text.mute : text.unmute;
  });
  $("keypad").addEventListener("click", function (event) {
    var key = event.target.closest("[data-key]");
    if (!key) return;
    if (session && session.isEstablished()) {
      session.sendDTMF(key.dataset.key, { transportType: "RFC2833" }); // RFC 4733 events
    } else if (!session) {
      $("number").value += key.dataset.key;
      $("number").focus();
    }
  });
  window.addEventListener("pagehide", function () { if (ua) ua.stop(); });

  show("connecting");
  start();
})();
