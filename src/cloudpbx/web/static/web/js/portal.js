/* cloudpbx portal behaviour. Plain JS, no build, loaded as a file (CSP: no inline scripts).
 *
 * Everything is declared in the markup with data attributes and handled by delegation, so
 * content swapped in by htmx works without re-initialisation:
 *   data-show-when="field=a b;other=c"   shown only while the form's fields hold those values
 *   data-dialog-open="id" / data-dialog-close   modal <dialog>s, focus returned to the opener
 *   data-copy-text="…" / data-copy-url="…"      copy to the clipboard (a URL is fetched on click)
 *   data-reveal-url="…" data-reveal-target="id" show / hide a secret fetched on click
 *   data-toggle="id"                             show / hide an inline editor
 *   data-filter-list="id"                        filter a list while typing
 *   data-autosubmit                              submit the form when a select changes
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /* ---------- conditional sections ---------- */

  function currentValue(form, name) {
    var fields = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "radio" || field.type === "checkbox") {
        if (field.checked) return field.value;
      } else {
        return field.value;
      }
    }
    return "";
  }

  function applyConditions(root) {
    var scope = root || document;
    scope.querySelectorAll("[data-show-when]").forEach(function (element) {
      var form = element.closest("form") || document;
      var visible = element.dataset.showWhen.split(";").every(function (condition) {
        var parts = condition.split("=");
        var allowed = (parts[1] || "").trim().split(/\s+/);
        return allowed.indexOf(currentValue(form, parts[0].trim())) !== -1;
      });
      element.hidden = !visible;
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "type" && target.form && target.form.id === "terminal-form") {
      // Only IP phones can be configured automatically (the model says the same).
      if (target.value !== "ip_phone") {
        var manual = target.form.querySelector('input[name="config_mode"][value="manual"]');
        if (manual) manual.checked = true;
      }
    }
    if (target.form) applyConditions(target.form);
    if (target.matches("select[data-autosubmit]") && target.form) target.form.requestSubmit();
  });

  /* ---------- dialogs ---------- */

  var openers = new WeakMap();

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.dialogOpen);
      if (dialog && !dialog.open) {
        openers.set(dialog, opener);
        dialog.showModal();
      }
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) open.close();
    }
  });

  document.addEventListener(
    "close",
    function (event) {
      var dialog = event.target;
      if (!(dialog instanceof HTMLDialogElement)) return;
      if (dialog.dataset.chips) renderCheckedChips(dialog);
      if (dialog.dataset.linesFrom) renderLineChips(dialog);
      var opener = openers.get(dialog);
      if (opener && document.contains(opener)) opener.focus();
    },
    true
  );

  function setChips(list, texts, chipClass, icon) {
    list.textContent = "";
    if (!texts.length) {
      var empty = document.createElement("li");
      empty.className = "chips-empty";
      empty.textContent = list.dataset.emptyText || "";
      list.appendChild(empty);
      return;
    }
    texts.forEach(function (text) {
      var chip = document.createElement("li");
      chip.className = chipClass;
      if (icon) chip.appendChild(icon.cloneNode(true));
      chip.appendChild(document.createTextNode(text));
      list.appendChild(chip);
    });
  }

  function renderCheckedChips(dialog) {
    var list = document.getElementById(dialog.dataset.chips);
    if (!list) return;
    var template = document.getElementById("chip-icon");
    var icon = template ? template.content.firstElementChild : null;
    var texts = [];
    dialog.querySelectorAll('input[type="checkbox"]:checked').forEach(function (box) {
      var label = box.closest("label");
      texts.push(label ? label.textContent.trim() : box.value);
    });
    setChips(list, texts, "chip", icon);
  }

  function renderLineChips(dialog) {
    var list = document.getElementById(dialog.dataset.linesTo);
    var source = document.getElementById(dialog.dataset.linesFrom);
    if (!list || !source) return;
    var texts = source.value.split(/[\s,;]+/).filter(Boolean);
    setChips(list, texts, "chip mono", null);
  }

  /* ---------- filter a list while typing ---------- */

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches("[data-filter-list]")) return;
    var list = document.getElementById(input.dataset.filterList);
    if (!list) return;
    var wanted = input.value.trim().toLowerCase();
    var shown = 0;
    list.querySelectorAll("li").forEach(function (item) {
      var match = !wanted || item.textContent.toLowerCase().indexOf(wanted) !== -1;
      item.hidden = !match;
      if (match) shown += 1;
    });
    var empty = list.parentElement.querySelector("[data-filter-empty]");
    if (empty) empty.hidden = shown !== 0;
  });

  /* ---------- clipboard, secrets, toggles ---------- */

  var toastTimer = null;
  function toast(message) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.add("visible");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      box.classList.remove("visible");
    }, 2200);
  }

  function fetchText(url) {
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Requested-With": "fetch" },
    }).then(function (response) {
      // A redirect means the session ended (login page): never copy or show that.
      if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
      return response.text();
    });
  }

  function copy(button) {
    var body = document.body.dataset;
    var write;
    if (button.dataset.copyText !== undefined) {
      write = navigator.clipboard.writeText(button.dataset.copyText);
    } else if (window.ClipboardItem && ClipboardItem.supports && ClipboardItem.supports("text/plain")) {
      // Hand the clipboard a promise: Safari only allows writes started inside the click.
      var blob = fetchText(button.dataset.copyUrl).then(function (text) {
        return new Blob([text], { type: "text/plain" });
      });
      write = navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
    } else {
      write = fetchText(button.dataset.copyUrl).then(function (text) {
        return navigator.clipboard.writeText(text);
      });
    }
    write.then(
      function () {
        button.classList.add("copied");
        setTimeout(function () {
          button.classList.remove("copied");
        }, 1500);
        toast(body.msgCopied);
      },
      function () {
        toast(body.msgCopyFailed);
      }
    );
  }

  function reveal(button) {
    var target = document.getElementById(button.dataset.revealTarget);
    if (!target) return;
    if (button.getAttribute("aria-pressed") === "true") {
      target.textContent = target.dataset.mask || "••••••••";
      button.setAttribute("aria-pressed", "false");
      return;
    }
    fetchText(button.dataset.revealUrl).then(function (text) {
      target.textContent = text; // text, never HTML
      button.setAttribute("aria-pressed", "true");
    });
  }

  function toggle(button) {
    var panel = document.getElementById(button.dataset.toggle);
    if (!panel) return;
    panel.hidden = !panel.hidden;
    document.querySelectorAll('[data-toggle="' + panel.id + '"][aria-expanded]').forEach(function (b) {
      b.setAttribute("aria-expanded", String(!panel.hidden));
    });
    if (!panel.hidden) {
      var input = panel.querySelector("input, select, textarea");
      if (input) input.focus();
    } else {
      var opener = document.querySelector('[data-toggle="' + panel.id + '"][aria-expanded]');
      if (opener) opener.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-text], [data-copy-url]");
    if (button) {
      event.preventDefault();
      copy(button);
      return;
    }
    button = event.target.closest("[data-reveal-url]");
    if (button) {
      event.preventDefault();
      reveal(button);
      return;
    }
    button = event.target.closest("[data-toggle]");
    if (button) {
      event.preventDefault();
      toggle(button);
    }
  });

  /* ---------- startup and htmx ---------- */

  document.addEventListener("DOMContentLoaded", function () {
    applyConditions(document);
    var error = document.querySelector(".has-error input, .has-error select, .has-error textarea, #form-errors");
    if (error && error.closest("dialog") === null) {
      var alertBox = document.getElementById("form-errors");
      if (alertBox) alertBox.scrollIntoView({ block: "start" });
    }
  });

  document.addEventListener("htmx:load", function (event) {
    applyConditions(event.target);
    var field = event.target.querySelector && event.target.querySelector(".password-editor:not([hidden]) input");
    if (field && event.target.querySelector(".has-error")) field.focus();
  });
})();
