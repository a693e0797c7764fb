"""Portal actions on an automatically configured phone: redirect retry, re-provision now, and
(DECT bases) letting new handsets register.

The terminal page includes ``provisioning/_redirect_status.html`` and
``provisioning/_resync.html`` with :func:`phone_context`; their buttons POST here (htmx swaps
the fragment; without JavaScript the page reloads with a message). Both are scoped to the
current customer (another customer's terminal is a 404 like a missing one) and need the admin
role (the portal decorator refuses writes to the read-only role).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cloudpbx.provisioning import redirect_status, services
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.provisioning.services import redirect_registrations, resync
from cloudpbx.terminals.models import Terminal
from cloudpbx.web.current_tenant import get_scoped_or_404, is_htmx, portal_view


def phone_context(terminal: Terminal, *, can_edit: bool = False) -> dict[str, Any]:
    """What the two includes need, for the terminal page's context (empty for manual ones)."""
    device = terminal.device
    if device is None:
        return {}
    return {
        "terminal": terminal,
        "device": device,
        "redirect": redirect_status.status(device),
        "can_edit": can_edit,
    }


def _device(request: HttpRequest, pk: int) -> tuple[Terminal, ProvisioningDevice]:
    terminal: Terminal = get_scoped_or_404(
        Terminal.objects.select_related("provisioning_device"), request, pk
    )
    device = terminal.device
    if device is None:
        raise Http404
    return terminal, device


def _answer(
    request: HttpRequest,
    terminal: Terminal,
    template: str,
    notice: str,
    level: int,
    **extra: Any,
) -> HttpResponse:
    if is_htmx(request):
        context = phone_context(terminal, can_edit=True) | extra | {"notice": notice}
        context["notice_level"] = "ok" if level == messages.SUCCESS else "warn"
        return render(request, template, context)
    messages.add_message(request, level, notice)
    return redirect("terminals:edit", pk=terminal.pk)


@portal_view
@require_POST
def redirect_retry(request: HttpRequest, pk: int) -> HttpResponse:
    terminal, device = _device(request, pk)
    state = redirect_status.status(device).state
    if state in ("not_needed", "not_configured"):
        notice, level = _("There is nothing to register for this phone."), messages.WARNING
    else:
        redirect_registrations.retry(device)
        terminal.provisioning_device.refresh_from_db()  # the registration row changed
        notice = _("Registration with the manufacturer's redirect service requested.")
        level = messages.SUCCESS
    return _answer(request, terminal, "provisioning/_redirect_status.html", notice, level)


@portal_view
@require_POST
def resync_now(request: HttpRequest, pk: int) -> HttpResponse:
    terminal, device = _device(request, pk)
    try:
        result = resync.send(device)
    except resync.ResyncUnavailable:
        notice, level = _("The SIP server cannot be reached right now."), messages.ERROR
    else:
        if result.sent:
            notice, level = _("The phone was asked to fetch its configuration."), messages.SUCCESS
        else:
            notice = _(
                "The phone is not registered: it fetches its configuration when it starts or "
                "at its next periodic check."
            )
            level = messages.WARNING
    return _answer(request, terminal, "provisioning/_resync.html", notice, level)


@portal_view
@require_POST
def handset_registration(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Let handsets register": open the DECT base's registration window again (a handset
    not registered in time after it was added)."""
    terminal, device = _device(request, pk)
    if not device.is_dect_base:
        raise Http404
    services.open_handset_registration(device)
    messages.success(
        request,
        _("The base lets new handsets register for %(minutes)d minutes.")
        % {"minutes": services.handset_registration_minutes(device)},
    )
    return redirect(f"{reverse('terminals:edit', args=[terminal.pk])}#handsets")
