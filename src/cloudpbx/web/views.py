"""Portal shell: sign-in, customer choice, the PBX overview, and the health checks."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from cloudpbx import health, metrics
from cloudpbx import numbering_rules as rules
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.terminals.models import Terminal
from cloudpbx.web.current_tenant import memberships_of, portal_view, select_tenant, tenant_of
from cloudpbx.web.forms import LoginForm


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:pbx")
    return redirect("web:login")


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:
        response = super().form_valid(form)
        language = form.get_user().language
        if language:
            # The user's saved choice wins over the browser's; otherwise the browser decides.
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else default


@require_http_methods(["GET", "POST"])
def tenants(request: HttpRequest) -> HttpResponse:
    """Choose the customer to work in (users who belong to several)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('web:login')}?next={reverse('web:tenants')}")
    if request.method == "POST":
        try:
            tenant_id = int(request.POST.get("tenant", ""))
        except ValueError:
            tenant_id = 0
        select_tenant(request, tenant_id)
        return redirect(_safe_next(request, reverse("web:pbx")))
    memberships = memberships_of(request.user)
    if not memberships:
        return render(request, "web/no_access.html", status=403)
    return render(
        request,
        "web/tenants.html",
        {"memberships": memberships, "next": _safe_next(request, "")},
    )


@portal_view
def pbx(request: HttpRequest) -> HttpResponse:
    """ "Cloud PBX settings": the entry page with its three sections."""
    tenant = tenant_of(request)
    counts = Terminal.objects.for_tenant(tenant).aggregate(
        total=Count("pk"),
        **{kind: Count("pk", filter=Q(type=kind)) for kind in Terminal.Type.values},
    )
    numbers = PhoneNumber.objects.for_tenant(tenant)
    context: dict[str, Any] = {
        "terminal_counts": counts,
        "terminal_types": [(kind, label, counts[kind]) for kind, label in Terminal.Type.choices],
        "extension_count": Extension.objects.for_tenant(tenant).count(),
        "number_count": numbers.count(),
        "main_number": numbers.filter(is_main=True).first(),
        # Read-only here: the operator sets them (tenancy admin).
        "destination_countries": sorted(
            (rules.country_name(code) for code in tenant.allowed_destination_countries),
            key=_alphabetical,
        ),
        "max_outbound_calls": tenant.max_outbound_calls,
    }
    return render(request, "web/pbx.html", context)


def _alphabetical(name: str) -> str:
    """Österreich between Niederlande and Polen, as readers look for it."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def healthz(request: HttpRequest) -> JsonResponse:
    """For monitors and load balancers (no login): 200 when every part of this node is well,
    503 naming those that are not."""
    body = health.report(settings.CONFIG)
    response = JsonResponse(body, status=200 if body["status"] == "ok" else 503)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # health logs changes
    return response


@require_http_methods(["GET", "HEAD"])
def metrics_view(request: HttpRequest) -> HttpResponse:
    """For Prometheus: on this machine, or with the metrics token over HTTPS. Anyone else gets
    the answer of a path that does not exist."""
    config = settings.CONFIG
    client = request.client  # type: ignore[attr-defined]
    if not metrics.allowed(client, request.headers.get("Authorization", ""), config):
        raise Http404
    response = HttpResponse(metrics.exposition(config), content_type=metrics.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest) -> JsonResponse:
    """The web worker answers (what the supervisor waits for before starting the rest)."""
    return JsonResponse({"status": "ok"})
