"""Portal pages for terminals: overview, add, edit, delete, credentials.

Thin views: they read the form, call :mod:`cloudpbx.terminals.services` once per save and put
the service's errors next to the fields. Every lookup is scoped to the current customer.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from cloudpbx import numbering_rules as rules
from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.models import AppLink, ProvisioningDevice
from cloudpbx.provisioning.services import app_links
from cloudpbx.sip import browser
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.web.current_tenant import (
    get_scoped_or_404,
    is_htmx,
    portal_view,
    require_editor,
    tenant_of,
)
from cloudpbx.web.forms import add_service_errors
from cloudpbx.web.phones.views import phone_context
from cloudpbx.web.terminals.forms import (
    CHOICE_HINTS,
    ERROR_FIELDS,
    PasswordForm,
    TerminalForm,
    parse_networks,
)
from cloudpbx.web.terminals.status import attach_last_call, attach_registrations

PAGE_SIZE = 25
SECRET_KINDS = ("sip", "acs")
_COMPACT = re.compile(r"[\s\-./()]")


def _terminals(request: HttpRequest) -> QuerySet[Terminal]:
    return Terminal.objects.for_tenant(tenant_of(request))


def _search(terminals: QuerySet[Terminal], text: str) -> QuerySet[Terminal]:
    if not text:
        return terminals
    compact = _COMPACT.sub("", text)
    found = Q(name__icontains=text) | Q(sip_username__icontains=compact)
    if compact:
        found |= Q(external_number__icontains=compact.lstrip("0") or compact)
        found |= Q(provisioning_device__mac__icontains=compact.replace(":", "").lower())
        if compact.isdigit():
            ringing = Terminal.ringing_extensions.through.objects.filter(
                extension__number=compact
            ).values("terminal_id")
            found |= Q(pk__in=ringing)
    return terminals.filter(found)


@portal_view
@require_GET
def terminal_list(request: HttpRequest) -> HttpResponse:
    """Overview: a constant number of queries whatever the number of terminals."""
    query = request.GET.get("q", "").strip()[:100]
    kind = request.GET.get("type", "")
    if kind not in Terminal.Type.values:
        kind = ""
    found = _search(_terminals(request), query)
    counts = found.aggregate(
        all=Count("pk"),
        **{value: Count("pk", filter=Q(type=value)) for value in Terminal.Type.values},
    )
    if kind:
        found = found.filter(type=kind)
    page_queryset = (
        found.select_related("provisioning_device", "base__terminal")
        .order_by("name")  # the GROUP BY of the count drops the default ordering
        .annotate(handset_count=Count("provisioning_device__handsets"))
        .prefetch_related(
            Prefetch("ringing_extensions", queryset=Extension.objects.order_by("number"))
        )
    )
    paginator = Paginator(page_queryset, PAGE_SIZE)
    paginator.count = counts[kind or "all"]  # already counted above: no second COUNT(*)
    page = paginator.get_page(request.GET.get("page"))
    terminals = list(page.object_list)
    attach_registrations(terminals)
    context = {
        "page": page,
        "terminals": terminals,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1),
        "query": query,
        "kind": kind,
        "type_filters": [("", _("All"), counts["all"])]
        + [(value, label, counts[value]) for value, label in Terminal.Type.choices],
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "terminal-results":
        response = render(request, "terminals/_results.html", {**context, "oob": True})
    else:
        response = render(request, "terminals/list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _form_context(
    request: HttpRequest, form: TerminalForm, terminal: Terminal | None
) -> dict[str, Any]:
    tenant = tenant_of(request)
    country = rules.rules_for(tenant.country)
    selected = {str(pk) for pk in (form["ringing_extensions"].value() or [])}
    device = terminal.device if terminal is not None else None
    handsets = _handsets(device)
    if terminal is not None:
        attach_registrations([terminal, *handsets])
        attach_last_call(terminal)
    return {
        "form": form,
        "terminal": terminal,
        "device": device,
        "softphone_enabled": bool(settings.CONFIG.sip_wss_port),
        # A handset's form (new or existing): the DECT base it belongs to.
        "handset_base": form.base,
        # A DECT base's page: its further handsets and how many it takes.
        "handsets": handsets,
        "handset_limit": device.handset_limit if device else 1,
        "cards": {
            name: [(choice, hints[choice.data["value"]]) for choice in form[name]]
            for name, hints in CHOICE_HINTS.items()
        },
        "selected_extensions": [
            choice for choice in form["ringing_extensions"] if str(choice.data["value"]) in selected
        ],
        "trusted_networks": parse_networks(form["trusted_networks"].value() or ""),
        "legal_hint": _(
            "Show only a number you have the right to use, from the numbering plan in force "
            "in %(country)s (%(law)s). Premium-rate, mass-traffic, directory and emergency "
            "numbers are refused. Emergency calls always carry the identification number."
        )
        % {"country": country.name, "law": country.law},
        "sip": _sip_settings(),
        "sip_password_form": PasswordForm(prefix="sip"),
        "acs_password_form": PasswordForm(prefix="acs"),
        "provisioning_url": f"{settings.CLOUDPBX_PUBLIC_URL}/prov/",
        "app_link": _latest_app_link(terminal),
        **(phone_context(terminal, can_edit=request.portal.can_edit) if terminal else {}),  # type: ignore[attr-defined]
    }


def _handsets(device: ProvisioningDevice | None) -> list[Terminal]:
    if device is None or not device.is_dect_base:
        return []
    return list(device.handsets.order_by("handset_number"))


def _latest_app_link(terminal: Terminal | None) -> AppLink | None:
    if terminal is None or terminal.type != Terminal.Type.APP:
        return None
    return AppLink.objects.filter(terminal=terminal).first()  # newest first


def _sip_settings() -> dict[str, Any]:
    return {
        "registrar": settings.CLOUDPBX_SIP_DOMAIN,
        "port": settings.CLOUDPBX_SIP_PORT,
        "transport": settings.CLOUDPBX_SIP_TRANSPORT.upper(),
    }


def _add_defaults(request: HttpRequest) -> dict[str, Any]:
    main = services.default_number(tenant_of(request))
    main_id = main.pk if main else None
    return {"identification_number": main_id, "caller_id_number": main_id}


@portal_view
@require_http_methods(["GET", "POST"])
def terminal_add(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    if request.method != "POST":
        form = TerminalForm(tenant, initial=_add_defaults(request))
        return render(request, "terminals/form.html", _form_context(request, form, None))
    form = TerminalForm(tenant, request.POST)
    if form.is_valid():
        generate = request.POST.get("action") == "generate"
        try:
            terminal = services.create_terminal(
                tenant, generate_credentials=generate, **form.service_arguments()
            )
        except ValidationError as error:
            add_service_errors(form, error, ERROR_FIELDS)
        else:
            return _after_save(request, terminal, generate, created=True)
    return render(request, "terminals/form.html", _form_context(request, form, None), status=422)


@portal_view
@require_http_methods(["GET", "POST"])
def terminal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tenant = tenant_of(request)
    terminal = _terminal_or_404(request, pk)
    if request.method != "POST":
        form = TerminalForm(tenant, initial=TerminalForm.initial_for(terminal), base=terminal.base)
        return render(request, "terminals/form.html", _form_context(request, form, terminal))
    form = TerminalForm(tenant, request.POST, base=terminal.base)
    if form.is_valid():
        generate = request.POST.get("action") == "generate"
        try:
            services.update_terminal(
                terminal, generate_credentials=generate, **form.service_arguments()
            )
        except ValidationError as error:
            add_service_errors(form, error, ERROR_FIELDS)
            terminal = _terminal_or_404(request, pk)  # the service changed it in memory
        else:
            return _after_save(request, terminal, generate, created=False)
    return render(
        request, "terminals/form.html", _form_context(request, form, terminal), status=422
    )


def _dect_base_or_404(request: HttpRequest, pk: int) -> tuple[Terminal, ProvisioningDevice]:
    """The terminal whose phone is a DECT base (of this customer), and its device."""
    terminal = _terminal_or_404(request, pk)
    device = terminal.device
    if device is None or not device.is_dect_base:
        raise Http404
    return terminal, device


@portal_view
@require_http_methods(["GET", "POST"])
def handset_add(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Add handset" on a DECT base's page: a new terminal of that base, with SIP credentials
    generated and a name and extensions chosen like any terminal's."""
    tenant = tenant_of(request)
    base_terminal, base = _dect_base_or_404(request, pk)
    if request.method != "POST":
        name = _("%(base)s handset %(number)d") % {
            "base": base_terminal.name,
            "number": base.last_handset_number + 1,
        }
        initial = _add_defaults(request) | {
            "name": name,
            "media_encryption": base_terminal.media_encryption,
        }
        form = TerminalForm(tenant, initial=initial, base=base)
        return render(request, "terminals/form.html", _form_context(request, form, None))
    form = TerminalForm(tenant, request.POST, base=base)
    if form.is_valid():
        try:
            handset = services.create_terminal(tenant, base=base, **form.service_arguments())
        except ValidationError as error:
            add_service_errors(form, error, ERROR_FIELDS)
        else:
            messages.success(
                request,
                _(
                    "Handset “%(name)s” added. Register it with the base within %(minutes)d "
                    "minutes, with the PIN %(pin)s."
                )
                % {
                    "name": handset.name,
                    "minutes": device_services.handset_registration_minutes(base),
                    "pin": device_services.handset_pin(handset),
                },
            )
            return redirect(f"{reverse('terminals:edit', args=[base_terminal.pk])}#handsets")
    return render(request, "terminals/form.html", _form_context(request, form, None), status=422)


def _after_save(
    request: HttpRequest, terminal: Terminal, generate: bool, *, created: bool
) -> HttpResponse:
    if generate:
        messages.success(request, _("Saved. The credentials are ready below."))
        anchor = "provisioning" if terminal.device else "credentials"
        return redirect(f"{reverse('terminals:edit', args=[terminal.pk])}#{anchor}")
    text = _("Terminal “%(name)s” added.") if created else _("Terminal “%(name)s” saved.")
    messages.success(request, text % {"name": terminal.name})
    return redirect("terminals:list")


def _terminal_or_404(request: HttpRequest, pk: int) -> Terminal:
    queryset = Terminal.objects.select_related(
        "provisioning_device",
        "identification_number",
        "caller_id_number",
        "internal_extension",
        "base__terminal",
    ).prefetch_related("ringing_extensions")
    return get_scoped_or_404(queryset, request, pk)


@portal_view
@require_http_methods(["GET", "POST"])
def terminal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    terminal = _terminal_or_404(request, pk)
    if request.method == "POST":
        try:
            services.delete_terminal(terminal)
        except ValidationError as error:  # a DECT base that still has handsets
            for problems in error.message_dict.values():
                for message in problems:
                    messages.error(request, message)
            return redirect(f"{reverse('terminals:edit', args=[terminal.pk])}#handsets")
        messages.success(request, _("Terminal “%(name)s” deleted.") % {"name": terminal.name})
        return redirect("terminals:list")
    return render(request, "terminals/confirm_delete.html", {"terminal": terminal})


def _secret(terminal: Terminal, kind: str) -> tuple[str, str]:
    """(username, password) of a terminal's SIP account or its phone's provisioning login."""
    if kind == "sip" and terminal.sip_username:
        return terminal.sip_username, terminal.sip_password
    device = terminal.device
    if kind == "acs" and device is not None and device.acs_username:
        return device.acs_username, device.acs_password
    raise Http404


@portal_view
@never_cache
@require_http_methods(["GET", "POST"])
def terminal_password(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """GET reveals a password (an explicit click; never part of the page before), POST sets a
    chosen one or generates a new one."""
    if kind not in SECRET_KINDS:
        raise Http404
    terminal = _terminal_or_404(request, pk)
    username, password = _secret(terminal, kind)
    require_editor(request)
    if request.method == "GET":
        return HttpResponse(password, content_type="text/plain; charset=utf-8")
    form = PasswordForm(request.POST, prefix=kind)
    saved = False
    if form.is_valid():
        chosen = None if request.POST.get("generate") else form.cleaned_data["password"]
        try:
            if kind == "sip":
                services.set_sip_password(terminal, chosen)
            else:
                device_services.set_acs_password(terminal.device, chosen)  # type: ignore[arg-type]
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            saved = True
            form = PasswordForm(prefix=kind)
    if is_htmx(request):
        context = {
            "terminal": terminal,
            "kind": kind,
            "username": username,
            "password_form": form,
            "saved": saved,
            "sip": _sip_settings(),
            "can_edit": True,
        }
        return render(request, "terminals/_credentials.html", context)
    if saved:
        messages.success(request, _("New password saved."))
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    anchor = "credentials" if kind == "sip" else "provisioning"
    return redirect(f"{reverse('terminals:edit', args=[terminal.pk])}#{anchor}")


@portal_view
@require_GET
def device_models(request: HttpRequest) -> HttpResponse:
    """The model select for the chosen manufacturer (htmx swaps it in)."""
    manufacturer = request.GET.get("manufacturer", "")
    form = TerminalForm(tenant_of(request), initial={"manufacturer": manufacturer, "model": ""})
    return render(request, "terminals/_model_field.html", {"form": form})


@portal_view
@never_cache
@require_http_methods(["POST"])
def terminal_app_link(request: HttpRequest, pk: int) -> HttpResponse:
    """ "New QR code": issue a one-time setup link (earlier ones die) and show it once — only
    its hash is kept, so the page can never show it again."""
    terminal = _terminal_or_404(request, pk)
    require_editor(request)
    try:
        issued = app_links.issue(terminal)
    except ValidationError as error:
        raise Http404 from error
    context = {"terminal": terminal, "issued": issued, "app_link": issued.link}
    if is_htmx(request):
        return render(request, "terminals/_app_link.html", context)
    return render(request, "terminals/app_link.html", context)


# --- the browser softphone -----------------------------------------------------------------


def _softphone_terminal(request: HttpRequest, pk: int) -> Terminal:
    """An app terminal of this customer with SIP credentials, for an administrator; like a
    missing one (404) otherwise, or when the PBX serves no secure WebSockets."""
    terminal = _terminal_or_404(request, pk)
    if (
        not settings.CONFIG.sip_wss_port
        or terminal.type != Terminal.Type.APP
        or not terminal.sip_username
    ):
        raise Http404
    require_editor(request)  # it places calls and shows a credential
    return terminal


def _browser_credential(terminal: Terminal) -> dict[str, Any]:
    issued = browser.issue(
        browser.key(settings.CONFIG.secret_key), terminal.sip_username, terminal.sip_ha1,
        time.time(),
    )  # fmt: skip
    return {"username": issued.username, "password": issued.password, "expires": issued.expires}


@portal_view
@require_GET
@never_cache
def terminal_softphone(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Use in this browser": the app terminal as a softphone in this page (WebRTC), with a
    credential of its own that expires (:mod:`cloudpbx.sip.browser`)."""
    terminal = _softphone_terminal(request, pk)
    config = settings.CONFIG
    softphone = {
        "server": config.softphone_url,
        "uri": f"sip:{terminal.sip_username}@{config.sip_domain}",
        "displayName": terminal.internal_display_name or terminal.name,
        "credential": _browser_credential(terminal),
        "credentialUrl": reverse("terminals:softphone-credential", args=[terminal.pk]),
    }
    context = {"terminal": terminal, "softphone": softphone, "softphone_text": _softphone_text()}
    response = render(request, "terminals/softphone.html", context)
    # Only this page may open the WebSocket to the SIP server (CSP connect-src; 'self' for
    # the credential's renewal, which default-src no longer covers once connect-src is set).
    server = config.softphone_url.rsplit("/", 1)[0]
    response._csp_update = {"connect-src": ["'self'", server]}  # type: ignore[attr-defined]
    return response


def _softphone_text() -> dict[str, str]:
    """What softphone.js shows, in the user's language."""
    return {
        "connecting": _("Connecting…"),
        "ready": _("Ready: calls to this terminal ring here."),
        "offline": _("Not registered: calls do not reach this browser."),
        "unreachable": _("The PBX cannot be reached. Trying again…"),
        "refused": _("The PBX refused this softphone. Reload the page."),
        "calling": _("Calling %(peer)s…"),
        "ringing": _("%(peer)s is ringing…"),
        "incoming": _("%(peer)s is calling"),
        "inCall": _("In a call with %(peer)s"),
        "ended": _("Call ended."),
        "busy": _("Busy."),
        "unavailable": _("Nobody answered, or the number is not available."),
        "notFound": _("This number or extension does not exist."),
        "rejected": _("The call was refused."),
        "microphone": _("The browser gave no microphone: allow it for this page and try again."),
        "failed": _("The call failed (%(cause)s)."),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "noAudio": _("No audio received yet"),
        "audio": _("Receiving audio"),
        "anonymous": _("Anonymous"),
    }


@portal_view
@require_GET
@never_cache
def softphone_credential(request: HttpRequest, pk: int) -> JsonResponse:
    """A fresh browser credential, fetched by the softphone page before the last expires."""
    return JsonResponse(_browser_credential(_softphone_terminal(request, pk)))
