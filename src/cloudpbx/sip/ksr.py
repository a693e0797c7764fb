"""The only module that touches Kamailio's ``KSR``: reads the request, asks
:mod:`cloudpbx.sip.edge` and :mod:`cloudpbx.sip.routing` for decisions and applies them.

Loaded inside Kamailio (see :mod:`cloudpbx.sip.kemi`); one :class:`Router` per worker process.
The request route reads like a firewall table: ban and flood, sanity, in-dialog (only known
dialogs), then per method authentication and routing; nothing relays before its guards ran.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import KSR  # provided by Kamailio's app_python3

from cloudpbx.config import Config
from cloudpbx.core import crypto
from cloudpbx.numbering_rules import SUPPORTED_COUNTRIES, emergency_numbers
from cloudpbx.sip import browser, edge, media, metrics, routing, rpc, rtpengine
from cloudpbx.sip.directory import Account, Database, Directory, Trunk
from cloudpbx.sip.numberplan import CountryNumberPlan

logger = logging.getLogger("cloudpbx.sip")

NAT_FLAG = 6  # usrloc nat_bflag in kamailio.cfg
TRUNK_AUTH_FLAG = 8  # the carrier's challenge was answered once for this transaction
FROM_TRUNK_FLAG = 9  # the transaction's replies go to the trunk
IN_DIALOG_FLAG = 10  # the transaction is a request inside a dialog (a re-INVITE, not a call)
BROWSER_FLAG = 11  # the request came from a browser: the SDP of its replies goes to one
OUTBOUND_PROFILE = "outbound"  # dialog profile: a customer's calls through the trunk
OK = 1


class MalformedRequest(Exception):
    """A value Kamailio parsed is not UTF-8: answered 400, never a traceback per packet."""


@dataclass(frozen=True)
class Limits:
    auth_failures_per_ip: int
    auth_failures_per_user: int
    flood_exempt: edge.Networks


def _increment(table: str, key: str) -> int:
    """Count in shared memory; the entry expires with the table's autoexpire."""
    if KSR.htable.sht_get(table, key) is None:
        KSR.htable.sht_seti(table, key, 1)
        return 1
    return int(KSR.htable.sht_inc(table, key))


def count(counter: str) -> None:
    """Add one to a router counter (:data:`cloudpbx.sip.metrics.ROUTER_COUNTERS`)."""
    KSR.statistics.update_stat(counter, 1)


def pv(name: str) -> str:
    try:
        value = KSR.pv.get(name)
    except UnicodeDecodeError as error:
        raise MalformedRequest(name) from error
    return "" if value is None else str(value)


def pv_or_none(name: str) -> str | None:
    """Like :func:`pv`, but None for a value that is not UTF-8 (an attacker's username)."""
    try:
        return pv(name)
    except MalformedRequest:
        return None


# nathelper's NAT tests: a private Contact (1), a Via not naming the source address (2) or port
# (16). A reply's Via is the PBX's own, so only its Contact tells.
NAT_TEST_REQUEST = 1 | 2 | 16
NAT_TEST_REPLY = 1


def alias_nated_contact(nat_test: int) -> None:
    """A phone behind NAT is reached where its message came from: its Contact gets an alias
    (``;alias=ip~port~proto``) that in-dialog requests toward it turn back into the
    destination (``handle_ruri_alias``). Over TCP always: a phone's listening port is not the
    connection's."""
    if KSR.hdr.is_present("Contact") > 0 and (
        KSR.nathelper.nat_uac_test(nat_test) > 0 or pv("$pr") != "udp"
    ):
        KSR.nathelper.set_contact_alias()


def keep_only(allowed: frozenset[str]) -> None:
    """Remove every header of the message whose name is not allowed.

    The names are read from the message in Python: Kamailio's ``remove_hf_exp`` compiles its
    regular expressions on every call, ~115 µs for the allow-list (measured)."""
    for name in edge.disallowed_headers(pv("$mb"), allowed):
        KSR.hdr.remove(name)


class Router:
    def __init__(self, config: Config) -> None:
        self.realm = config.sip_realm
        self.domain = config.sip_domain
        self.rpc_port = config.sip_rpc_port
        self.rpc_peers = tuple(
            ipaddress.ip_network(network, strict=False) for network in config.sip_rpc_peers
        )
        self.wss_port = config.sip_wss_port
        self.portal_origin = config.portal_origin
        self.rpc_token = rpc.token(config.secret_key)
        self.config = config  # rtpengine's control port and the media timeout, for the watch
        self.media_watch = media.Watch(config.media_timeout)  # used in the rtimer process
        self.own = frozenset(
            (host.lower(), config.sip_port) for host in (config.sip_domain, config.sip_listen)
        )
        self.directory = Directory(Database(config.database_url), decrypt=crypto.decrypt)
        self.plan = CountryNumberPlan()
        self.emergency_numbers = frozenset(
            number for country, _ in SUPPORTED_COUNTRIES for number in emergency_numbers(country)
        )
        self.limits = Limits(
            auth_failures_per_ip=config.sip_auth_failures_per_ip,
            auth_failures_per_user=config.sip_auth_failures_per_user,
            flood_exempt=tuple(
                ipaddress.ip_network(network, strict=False) for network in config.sip_flood_exempt
            ),
        )
        # Unknown users are checked against a random HA1: the same work and the same answer
        # as a wrong password, so usernames cannot be enumerated.
        self.decoy_ha1 = secrets.token_hex(16)
        self.browser_key = browser.key(config.secret_key)
        self.plain_phones = config.sip_plain_phones
        # Of the call group being forked: each registered contact's account.
        self._branch_targets: dict[str, routing.RingTarget] = {}

    # --- entry points called by Kamailio -------------------------------------------------------

    def sync_directory(self) -> None:
        self.directory.sync(KSR.htable.sht_get("cache", "gen"))

    def child_init(self, rank: int) -> int:
        # Connections are opened lazily per process (see Database.rows), nothing to do here.
        return 0

    def ksr_request_route(self, msg: Any) -> int:
        try:
            return self.route_request()
        except MalformedRequest as error:
            logger.info("cloudpbx-sip malformed ip=%s field=%s", KSR.pv.get("$si"), error)
            if not KSR.is_ACK():
                KSR.sl.sl_send_reply(400, "Bad Request")
            return OK
        except Exception:
            # Fail closed with an answer, so phones do not retransmit into a broken router.
            logger.exception("routing failed for %s from %s", pv("$rm"), pv("$si"))
            if not KSR.is_ACK():
                KSR.sl.sl_send_reply(500, "Server Error")
            return OK

    def route_request(self) -> int:
        source = pv("$si")
        method = pv("$rm")  # read once: each KSR.is_*() would cross into Kamailio again
        self.sync_directory()
        trunk = self.directory.trunk_for_source(source)
        # Trunk addresses are never banned: a spoofed flood must not cut off inbound calls.
        if trunk is None and not self.admitted(source, method):
            return OK  # dropped without an answer: a banned address learns nothing
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return OK
        if KSR.sanity.sanity_check(1511, 7) < 0:
            return OK
        proto = pv("$pr")
        if trunk is None and not self.plain_phones and proto not in edge.ENCRYPTED_TRANSPORTS:
            # The same answer for every request and user: nothing to learn from it.
            if method != "ACK":
                KSR.sl.sl_send_reply(403, "TLS Required")
            return OK
        if proto in media.BROWSER_TRANSPORTS:
            KSR.setflag(BROWSER_FLAG)

        if method == "CANCEL":
            if KSR.tm.t_check_trans() > 0:
                KSR.rtpengine.rtpengine_manage("")  # the call's media sessions end with it
                KSR.tm.t_relay()
            return OK
        if KSR.siputils.has_totag() > 0:
            return self.route_in_dialog(trunk, method)
        if KSR.tm.t_check_trans() == 0:
            return OK  # retransmission absorbed by tm
        if method == "ACK":
            return OK
        if method == "REGISTER":
            return self.route_register(source, trunk)
        if method == "INVITE":
            return self.route_invite(source, trunk)
        if method == "OPTIONS" and not pv("$rU"):
            KSR.sl.sl_send_reply(200, "OK")  # keepalive
            return OK
        KSR.sl.sl_send_reply(405, "Method Not Allowed")
        return OK

    def admitted(self, source: str, method: str) -> bool:
        """Ban and flood guard for a source that is not a trunk."""
        banned = KSR.htable.sht_get("ipban", source) is not None
        if not banned and not self._within_flood_limit(source):
            KSR.htable.sht_seti("ipban", source, 1)
            count(metrics.ban_counter("ip_flood"))
            logger.warning("cloudpbx-sip banned ip=%s reason=flood", source)
            banned = True
        if not banned:
            return True
        dialled = routing.clean_dialled(pv_or_none("$rU") or "")
        return edge.admit_while_banned(method, dialled, self.emergency_numbers)

    def ksr_failure_ring(self, msg: Any) -> int:
        if KSR.tm.t_is_canceled() > 0:
            return OK
        KSR.rtpengine.rtpengine_manage("")  # in a failure route: the call's sessions are deleted
        if KSR.tm.t_check_status("408") > 0 or KSR.tm.t_branch_timeout() > 0:
            # Nobody answered within the ring timeout.
            KSR.tm.t_send_reply(480, "Temporarily Unavailable")
            return OK
        if KSR.isflagset(FROM_TRUNK_FLAG):
            replaced = edge.final_reply_toward_trunk(int(pv("$T_reply_code") or 0))
            if replaced is not None:
                KSR.tm.t_send_reply(*replaced)
        return OK

    def ksr_failure_trunk(self, msg: Any) -> int:
        """The carrier asks for credentials: answer its challenge once with the trunk's."""
        if KSR.tm.t_is_canceled() > 0:
            return OK
        if KSR.tm.t_check_status("401|407") < 0 or not self.answer_trunk_challenge():
            KSR.rtpengine.rtpengine_manage("")  # the call failed: its media sessions go
        return OK

    def answer_trunk_challenge(self) -> bool:
        # Replies are handled by whichever worker receives them: it may not have seen a
        # request since the portal's last change.
        self.sync_directory()
        trunk = self.directory.default_trunk()
        if trunk is None or not trunk.auth_username or KSR.isflagset(TRUNK_AUTH_FLAG):
            return False  # nothing to answer with, or already answered once: pass the 40x on
        KSR.setflag(TRUNK_AUTH_FLAG)
        KSR.pv.sets("$avp(trunk_user)", trunk.auth_username)
        KSR.pv.sets("$avp(trunk_password)", trunk.auth_password)
        KSR.pv.sets("$avp(trunk_realm)", "")  # the realm the carrier challenges with
        if KSR.uac.uac_auth() < 0:
            return False
        self._ring = None
        self.arm_branches(trunk_call=True)
        KSR.tm.t_relay()
        return True

    def ksr_reply(self, msg: Any) -> int:
        """A reply on its way back: the answering phone is reached through its NAT binding,
        its SDP is anchored at the relay, and toward the carrier only allow-listed headers
        go upstream."""
        method = pv("$rm")  # of the request this reply answers (CSeq)
        initial = not KSR.isflagset(IN_DIALOG_FLAG)
        code = int(pv("$rs") or 0)
        body = pv("$rb") if method in media.MEDIA_METHODS and code < 300 else ""
        # Whether it comes from a carrier matters only for a reply that names a contact or
        # carries SDP (not for a 100 Trying or a 180 without either).
        from_trunk: Trunk | None = None
        if body or KSR.hdr.is_present("Contact") > 0:
            # Replies are handled by whichever worker receives them: it may not have seen a
            # request since the portal's last change.
            self.sync_directory()
            from_trunk = self.directory.trunk_for_source(pv("$si"))
            if from_trunk is None:
                alias_nated_contact(NAT_TEST_REPLY)
        if body:
            flags = self.media_flags(
                from_trunk, body, per_branch=initial, to_browser=KSR.isflagset(BROWSER_FLAG)
            )
            KSR.rtpengine.rtpengine_manage(flags)
            if initial and code >= 200 and from_trunk is None:
                self.record_answer(body)
        elif method == "INVITE" and initial and code >= 300:
            # A branch that failed or was cancelled: its own session goes (the others stay).
            KSR.rtpengine.rtpengine_manage(media.PER_BRANCH)
        if KSR.isflagset(FROM_TRUNK_FLAG):
            keep_only(edge.TRUNK_REPLY_HEADERS)
        return OK

    def media_flags(
        self,
        trunk: Trunk | None,
        sdp: str,
        *,
        per_branch: bool,
        toward: str | None = None,
        to_browser: bool = False,
    ) -> str:
        trusted = trunk is not None and trunk.trust_media_address
        return media.relay_flags(
            trusted_source=trusted, sdp=sdp, per_branch=per_branch, toward=toward,
            to_browser=to_browser,
        )  # fmt: skip

    def branch_media(self, to_browser: bool) -> str:
        """The protocol toward this branch: WebRTC's to a browser, else its phone's SRTP
        setting, plain to the trunk. A phone's branch is remembered for its answer
        (:meth:`record_answer`)."""
        target = self._branch_targets.get(pv("$ru")) if self._ring is not None else None
        if target is None:
            return media.TOWARD_TRUNK  # the carrier, or an external phone through it
        KSR.htable.sht_sets("callbranch", f"{pv('$ci')}:{pv('$T_branch_idx')}", target.address)
        return media.TOWARD_BROWSER if to_browser else media.toward(target.media_encryption)

    def record_call(self, username: str, sdp: str) -> None:
        """What the portal shows as the terminal's last call: when, over which transport, and
        whether its media was encrypted (the relay speaks to each phone as it offered or
        answered)."""
        encrypted = "srtp" if media.offers_srtp(sdp) else "rtp"
        KSR.htable.sht_sets("lastcall", username, f"{int(time.time())} {pv('$pr')} {encrypted}")

    def record_answer(self, body: str) -> None:
        """The phone of a call group branch answered: its last call is this one."""
        key = f"{pv('$ci')}:{pv('$T_branch_idx')}"
        username = KSR.htable.sht_get("callbranch", key)
        if username is not None:
            KSR.htable.sht_rm("callbranch", key)
            self.record_call(str(username), body)

    def arm_branches(self, *, trunk_call: bool) -> None:
        """Every branch of an INVITE gets its media offer (and a call group's identity), and
        every reply passes :meth:`ksr_reply`."""
        self._media_failed = False
        KSR.tm.t_on_branch("ksr_branch")
        KSR.tm.t_on_reply("ksr_reply")
        KSR.tm.t_on_failure("ksr_failure_trunk" if trunk_call else "ksr_failure_ring")

    def ksr_branch(self, msg: Any) -> int:
        """Each branch of an INVITE: a call group's identity, then its own media session.

        A relay that does not answer drops the branch (:meth:`apply` then answers 503)."""
        if self._ring is not None and not self.ring_branch(self._ring):
            return OK
        body = pv("$rb")
        if body:
            trunk = self.directory.trunk_for_source(pv("$si"))
            to_browser = media.is_browser_uri(pv("$du") or pv("$ru"))
            flags = self.media_flags(
                trunk, body, per_branch=True, toward=self.branch_media(to_browser),
                to_browser=to_browser,
            )  # fmt: skip
            if KSR.rtpengine.rtpengine_manage(flags) < 0:
                logger.warning("cloudpbx-sip media relay unavailable call=%s", pv("$ci"))
                self._media_failed = True
                KSR.tm.t_set_disable_internal_reply(1)  # the 503 below, not tm's own 500
                KSR.set_drop()
        return OK

    def ring_branch(self, ring: routing.Ring) -> bool:
        """Colleagues see the internal identity, external phones (through the trunk) the trunk
        one. Set here, once per branch, because two From rewrites of one request would collide.
        A branch that would reach the trunk without being one of the group's external phones is
        dropped (False)."""
        trunk = self.directory.default_trunk()
        uri = pv("$ru")
        place = edge.endpoint(pv("$du") or uri)
        toward_trunk = place is None or self.hosts().is_trunk(place)
        trunk_uris = self._trunk_uris
        kind: edge.BranchKind = "trunk" if uri in trunk_uris else "phone"
        if not edge.branch_allowed(kind, toward_trunk, uri, trunk_uris):
            logger.warning("cloudpbx-sip dropped branch to=%s reason=trunk", uri)
            KSR.set_drop()  # in a branch route: this branch is not sent
            return False
        if kind == "trunk" and trunk is not None and ring.trunk_identity:
            self.set_identity(ring.trunk_identity, trunk)
            keep_only(edge.TRUNK_HEADERS)
        else:
            self.set_identity(ring.identity, None)
            for header in edge.AUTO_ANSWER_HEADERS:
                KSR.hdr.remove(header)
        return True

    def ksr_xhttp_event(self, msg: Any, name: str = "") -> int:
        """HTTP: the browser softphone's WebSocket handshake on the secure WebSocket port;
        JSON-RPC only on the RPC port, from loopback or another node (CLOUDPBX_SIP_RPC_PEERS),
        only with the shared token."""
        port = int(pv("$Rp") or 0)
        if self.wss_port and port == self.wss_port:
            return self.open_websocket()
        offered = pv("$hdr(Authorization)")
        if (
            port != self.rpc_port
            or not self.rpc_caller_allowed(pv("$si"))
            or not hmac.compare_digest(offered.encode(), f"Bearer {self.rpc_token}".encode())
        ):
            KSR.xhttp.xhttp_reply(403, "Forbidden", "text/plain", "")
            return OK
        KSR.jsonrpcs.dispatch()
        return OK

    def rpc_caller_allowed(self, source: str) -> bool:
        address = ipaddress.ip_address(source)
        return address.is_loopback or any(address in network for network in self.rpc_peers)

    def open_websocket(self) -> int:
        """A WebSocket for SIP only from a page of the portal (its Origin: another site's page
        must not use a logged-in user's browser), not from a banned address, at ``/sip``."""
        source = pv("$si")
        refusal = edge.websocket_refusal(
            path=pv("$hu"),
            upgrade=pv("$hdr(Upgrade)"),
            origin=pv("$hdr(Origin)"),
            portal_origin=self.portal_origin,
            banned=KSR.htable.sht_get("ipban", source) is not None,
        )
        if refusal is not None:
            logger.info("cloudpbx-sip refused websocket ip=%s reason=%s", source, refusal)
            KSR.xhttp.xhttp_reply(403, "Forbidden", "text/plain", "")
            return OK
        KSR.websocket.handle_handshake()  # answers 101, or 4xx to a malformed handshake
        return OK

    def ksr_media_watch(self, msg: Any, name: str = "") -> int:
        """Every few seconds (rtimer): end relayed calls one side of which has sent no media
        for the timeout — a phone that lost power must not hold a carrier channel for hours."""
        try:
            held = rtpengine.calls(self.config)
        except rtpengine.NgError as error:
            logger.warning("cloudpbx-sip media watch: %s", error)
            return OK
        now = time.time()
        for call_id in self.media_watch.due(held, now):
            try:
                call = rtpengine.query(self.config, call_id)
            except rtpengine.NgError:
                continue  # ended since the list: nothing to watch
            dead = media.silent_party(call, now, self.config.media_timeout)
            if dead is None:
                continue
            logger.info("cloudpbx-sip ending call without media call=%s", call_id)
            command = {
                "jsonrpc": "2.0", "method": "dlg.terminate_dlg",
                "params": [call_id, *dead], "id": 1,
            }  # fmt: skip
            KSR.jsonrpcs.exec(json.dumps(command))
            with contextlib.suppress(rtpengine.NgError):
                rtpengine.delete(self.config, call_id)
        return OK

    def hosts(self) -> edge.Hosts:
        return self.directory.hosts(self.own)

    # --- REGISTER ------------------------------------------------------------------------------

    def route_register(self, source: str, trunk: Trunk | None) -> int:
        if trunk is not None:
            count(metrics.register_counter("refused"))
            KSR.sl.sl_send_reply(403, "Forbidden")  # a carrier has no account here
            return OK
        account = self.authenticate(source, "REGISTER")
        if account is None:
            count(metrics.register_counter("challenged"))
            return OK
        contacts = edge.split_contacts(pv("$(hdr(Contact)[*])"))
        refusal = edge.contact_refusal(contacts, self.hosts())
        if refusal is not None:
            logger.warning(
                "cloudpbx-sip refused contact user=%s ip=%s reason=%s",
                account.caller.sip_username, source, refusal,
            )  # fmt: skip
            count(metrics.register_counter("refused"))
            KSR.sl.sl_send_reply(403, refusal)
            return OK
        # The contact is reached where this REGISTER came from, never at the host it names.
        KSR.nathelper.fix_nated_register()
        if KSR.nathelper.nat_uac_test(NAT_TEST_REQUEST) > 0:
            KSR.setbflag(NAT_FLAG)
        if KSR.registrar.save("location", 0) < 0:
            count(metrics.register_counter("failed"))
            KSR.sl.sl_reply_error()
        else:
            count(metrics.register_counter("accepted"))
        return OK

    # --- INVITE ------------------------------------------------------------------------------

    def route_invite(self, source: str, trunk: Trunk | None) -> int:
        # A preloaded Route set never steers an initial request (it would make the PBX relay
        # wherever a stranger's Route names). The only initial request relayed is an INVITE.
        KSR.hdr.remove("Route")
        if trunk is not None:
            KSR.setflag(FROM_TRUNK_FLAG)
            decision = routing.route_inbound(pv("$rU"), self.directory, pv("$fU"))
            return self.apply(decision, None)
        account = self.authenticate(source, "INVITE")
        if account is None:
            count(metrics.call_counter("challenged"))
            return OK
        caller = account.caller
        offer = pv("$rb")
        srtp = media.srtp_refusal(caller.media_encryption, offer)
        if srtp is not None:
            logger.info("cloudpbx-sip refused call user=%s reason=srtp", caller.sip_username)
            count(metrics.call_counter("srtp_refused"))
            KSR.sl.sl_send_reply(*srtp)
            return OK
        self.record_call(caller.sip_username, offer)
        decision = routing.route_call(caller, pv("$rU"), self.directory, self.plan)
        return self.apply(decision, caller)

    def apply(self, decision: routing.Decision, caller: routing.Caller | None) -> int:
        if isinstance(decision, routing.Reject):
            count(metrics.call_counter("rejected"))
            KSR.sl.sl_send_reply(decision.code, decision.reason)
            return OK
        if isinstance(decision, routing.ToTrunk) and caller is not None:
            refusal = self.outbound_limit(caller, decision)
            if refusal is not None:
                count(metrics.call_counter("over_limit"))
                KSR.sl.sl_send_reply(refusal.code, refusal.reason)
                return OK
        for header in edge.IDENTITY_HEADERS:
            KSR.hdr.remove(header)
        if caller is not None:
            alias_nated_contact(NAT_TEST_REQUEST)
        KSR.dialog.dlg_manage()
        KSR.rr.record_route()
        if isinstance(decision, routing.ToTrunk):
            trunk = self.directory.default_trunk()
            if trunk is None:
                count(metrics.call_counter("no_trunk"))
                KSR.sl.sl_send_reply(503, "No Trunk Configured")
                return OK
            count(metrics.call_counter("trunk"))
            KSR.pv.sets("$dlg_var(trunk)", "1")
            if caller is not None:
                KSR.dialog.set_dlg_profile(OUTBOUND_PROFILE, str(caller.tenant_id))
            KSR.pv.sets("$ru", trunk.uri(decision.number))
            self.set_identity(decision.identity, trunk)
            keep_only(edge.TRUNK_HEADERS)
            self._ring = None
            self.arm_branches(trunk_call=True)
        else:
            if not self.load_targets(decision):
                count(metrics.call_counter("unavailable"))
                KSR.sl.sl_send_reply(480, "Temporarily Unavailable")
                return OK
            external = any(t.kind == "external" for t in decision.targets)
            if caller is None:
                count(metrics.call_counter("inbound"))
            else:
                count(metrics.call_counter("external" if external else "internal"))
            if caller is None or external:
                KSR.pv.sets("$dlg_var(trunk)", "1")
            self._ring = decision
            self.arm_branches(trunk_call=False)
        if KSR.tm.t_relay() < 0:
            if self._media_failed:
                KSR.tm.t_send_reply(503, "Media Relay Unavailable")
            else:
                KSR.sl.sl_reply_error()
        return OK

    def outbound_limit(self, caller: routing.Caller, call: routing.ToTrunk) -> edge.Refuse | None:
        """Emergency calls always pass; others count against the customer's cap."""
        if call.emergency:
            return None
        KSR.dialog.get_profile_size(OUTBOUND_PROFILE, str(caller.tenant_id), "$var(active)")
        active = int(KSR.pv.get("$var(active)") or 0)
        return edge.outbound_limit_refusal(active, caller.max_outbound_calls)

    # The call group being forked by this worker, read by its branch routes during t_relay,
    # and the trunk URIs of its external phones (the only branches that may use the trunk).
    _ring: routing.Ring | None = None
    _trunk_uris: frozenset[str] = frozenset()
    _media_failed = False  # a branch route found the media relay down

    def load_targets(self, ring: routing.Ring) -> bool:
        """Put every external number and every registered contact into the destination set.

        External numbers first: a branch appended without a destination URI is shown the
        previous branch's ``$du`` in its branch route, so the main branch must be the one
        without (the branch check reads where each branch goes)."""
        trunk = self.directory.default_trunk()
        self._trunk_uris = frozenset(
            trunk.uri(target.address)
            for target in ring.targets
            if trunk is not None and target.kind == "external"
        )
        self._branch_targets = {}
        first = True
        for uri in sorted(self._trunk_uris):
            if first:
                KSR.pv.sets("$ru", uri)
                first = False
            else:
                KSR.corex.append_branch_uri(uri)
        for target in ring.targets:
            if target.kind != "sip":
                continue
            aor = f"sip:{target.address}@{self.domain}"
            known = int(pv("$branch(count)") or 0)
            if first:
                KSR.pv.sets("$ru", aor)
                if KSR.registrar.lookup("location") > 0:
                    first = False
                    self._branch_targets[pv("$ru")] = target
            else:
                KSR.registrar.lookup_to_dset("location", aor)
            # The contacts this account added: each branch's SRTP setting, for its branch route.
            for index in range(known, int(pv("$branch(count)") or 0)):
                self._branch_targets[pv(f"$(branch(uri)[{index}])")] = target
        return not first

    def set_identity(self, identity: routing.Identity, trunk: Trunk | None) -> None:
        # Only printable characters reach a header, whatever a name holds (CR/LF injection).
        display = edge.printable(identity.from_display)
        quoted = f'"{display}"' if display else ""
        user = edge.uri_user(identity.from_user)
        asserted = edge.uri_user(identity.asserted, "") if identity.asserted else ""
        style = trunk.header_style if trunk is not None else "pai"
        if identity.privacy:
            uri = f"sip:{routing.ANONYMOUS_URI_USER}@anonymous.invalid"
        elif style == "ppi" and asserted:
            uri = f"sip:{asserted}@{self.domain}"
        else:
            uri = f"sip:{user}@{self.domain}"
        KSR.uac.uac_replace_from(quoted, uri)
        if trunk is None:
            return
        if asserted:
            KSR.hdr.append(f"P-Asserted-Identity: <sip:{asserted}@{self.domain}>\r\n")
        if style == "ppi" and not identity.privacy and user:
            KSR.hdr.append(f"P-Preferred-Identity: <sip:{user}@{self.domain}>\r\n")
        if identity.privacy:
            KSR.hdr.append("Privacy: id\r\n")

    # --- in dialog ---------------------------------------------------------------------------

    def route_in_dialog(self, trunk: Trunk | None, method: str) -> int:
        if method == "ACK" and KSR.hdr.is_present("Route") < 0:
            # The ACK of a failed INVITE is hop-by-hop: tm matches and absorbs it.
            KSR.tm.t_check_trans()
            return OK
        routed = KSR.rr.loose_route() > 0
        known = routed and KSR.dialog.is_known_dlg() > 0
        if routed and KSR.nathelper.handle_ruri_alias() < 0:
            KSR.sl.sl_send_reply(400, "Bad Request")  # an alias we did not write
            return OK
        place = edge.endpoint(pv("$du") or pv("$ru"))
        toward_trunk = place is None or self.hosts().is_trunk(place)
        request = edge.InDialog(
            method=method,
            known_dialog=known,
            routed_by_us=routed,
            toward_trunk=toward_trunk,
            # The dialog variable (a locked lookup) matters only on the way to a trunk.
            trunk_dialog=known and toward_trunk and pv("$dlg_var(trunk)") == "1",
        )
        decision = edge.decide_in_dialog(request)
        if isinstance(decision, edge.Refuse):
            if method != "ACK":
                KSR.sl.sl_send_reply(decision.code, decision.reason)
            return OK
        for header in edge.IDENTITY_HEADERS:
            KSR.hdr.remove(header)
        if request.toward_trunk:
            keep_only(edge.TRUNK_HEADERS)
        if trunk is None:
            alias_nated_contact(NAT_TEST_REQUEST)
        if method == "BYE":
            KSR.rtpengine.rtpengine_manage("")  # the call's media sessions end
        elif method in media.MEDIA_METHODS and (body := pv("$rb")):
            to_browser = media.is_browser_uri(pv("$du") or pv("$ru"))
            flags = self.media_flags(trunk, body, per_branch=False, to_browser=to_browser)
            KSR.rtpengine.rtpengine_manage(flags)
        KSR.setflag(IN_DIALOG_FLAG)
        if trunk is not None:
            KSR.setflag(FROM_TRUNK_FLAG)
        KSR.tm.t_on_reply("ksr_reply")
        KSR.tm.t_relay()
        return OK

    # --- authentication and bans -------------------------------------------------------------

    def authenticate(self, source: str, method: str) -> Account | None:
        """Digest-check the request; on any failure answer with a fresh challenge."""
        header = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
        if KSR.hdr.is_present(header) < 0:
            KSR.auth.auth_challenge(self.realm, 1)
            return None
        raw = pv_or_none("$au")
        username = edge.screen_username(raw.encode()) if raw is not None else None
        if username is None:
            # Refused before anything is counted or stored under an attacker's key. (Answers
            # without qop need no check here: every nonce is good for one answer only.)
            KSR.auth.auth_challenge(self.realm, 1)
            return None
        account, ha1, user_checked = self.account_for(username, method)
        ip_key, user_key = edge.failure_keys(source, username)
        locked = user_key is not None and KSR.htable.sht_get("userban", user_key) is not None
        # Kamailio checks that the digest username is the From (To) user, unless done here.
        result = KSR.auth.pv_auth_check(self.realm, ha1, 1, 0 if user_checked else 1)
        verdict = edge.judge_digest(
            result,
            known=account is not None,
            locked=locked,
            # Only a locked user's call needs to know whether it dials an emergency number.
            emergency=locked
            and method == "INVITE"
            and account is not None
            and self.plan.is_emergency(account.caller.country, routing.clean_dialled(pv("$rU"))),
        )
        if verdict.accept and account is not None:
            KSR.auth.consume_credentials()
            return account
        if verdict.count_failure:
            self.count_failure(source, ip_key, user_key, username)
        KSR.auth.auth_challenge(self.realm, 1)
        return None

    def account_for(self, username: str, method: str) -> tuple[Account | None, str, bool]:
        """The account a digest username authenticates as, the HA1 to check it with, and
        whether the username was checked against the From (To) user here: the terminal's own
        credential, or over a secure WebSocket a browser credential of an app terminal
        (:mod:`cloudpbx.sip.browser`), valid only for that terminal's own AOR and calls."""
        sip_username = None
        if pv("$pr") in browser.TRANSPORTS:
            sip_username = browser.account_of(username, time.time())
        if sip_username is None:
            account = self.directory.account(username)
            return account, account.ha1 if account is not None else self.decoy_ha1, False
        account = self.directory.account(sip_username)
        own_user = pv("$tU" if method == "REGISTER" else "$fU")
        if account is None or account.kind != "app" or own_user != sip_username:
            return None, self.decoy_ha1, True
        return account, browser.ha1(self.browser_key, username, self.realm, account.ha1), True

    def count_failure(self, source: str, ip_key: str, user_key: str | None, username: str) -> None:
        count(metrics.AUTH_FAILURES)
        if _increment("authfail", ip_key) > self.limits.auth_failures_per_ip:
            KSR.htable.sht_seti("ipban", source, 1)
            count(metrics.ban_counter("ip_auth_failures"))
            logger.warning("cloudpbx-sip banned ip=%s reason=auth-failures", source)
        if user_key and _increment("authfail", user_key) > self.limits.auth_failures_per_user:
            KSR.htable.sht_seti("userban", user_key, 1)
            count(metrics.ban_counter("user_auth_failures"))
            logger.warning(
                "cloudpbx-sip banned user=%s ip=%s reason=auth-failures", username, source
            )

    def _within_flood_limit(self, source: str) -> bool:
        if edge.in_networks(source, self.limits.flood_exempt):
            return True
        return bool(KSR.pike.pike_check_req() >= 0)
