"""The current customer (tenant) of a portal request, and the decorator every portal view uses.

A signed-in user works in one customer's PBX at a time. The choice lives in the session
(``SESSION_KEY``) and is checked against the user's memberships on every request, so a removed
membership takes effect at once. Operators (``is_staff``) get no portal access of their own:
they see a customer's portal only as a member of it (they use the admin otherwise).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from cloudpbx.tenancy.models import Membership, Tenant

SESSION_KEY = "cloudpbx_tenant_id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Portal:
    """What a portal view knows about who is asking: ``request.portal``."""

    membership: Membership
    memberships: list[Membership]  # all of the user's, for the customer switcher

    @property
    def tenant(self) -> Tenant:
        return self.membership.tenant

    @property
    def can_edit(self) -> bool:
        """Admins change settings and see secrets; the read-only role does neither."""
        return self.membership.role == Membership.Role.ADMIN

    @property
    def has_several_tenants(self) -> bool:
        return len(self.memberships) > 1


def memberships_of(user: Any) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
    )


def select_tenant(request: HttpRequest, tenant_id: int) -> Membership:
    """Make ``tenant_id`` the current customer; 404 unless the user is a member."""
    membership = next((m for m in memberships_of(request.user) if m.tenant_id == tenant_id), None)
    if membership is None:
        raise Http404
    request.session[SESSION_KEY] = membership.tenant_id
    return membership


def portal_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in, current customer and role for a portal view.

    Sets ``request.portal`` (:class:`Portal`). Without a current customer: the only membership
    is chosen, several lead to the chooser, none is a 403 page. Unsafe methods need the admin
    role. Dates render in the customer's time zone.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if is_htmx(request):
                # A fragment request after the session ended: send the whole page to login.
                page = urlsplit(request.headers.get("HX-Current-URL", ""))
                login = redirect_to_login(page.path + (f"?{page.query}" if page.query else ""))
                return HttpResponse(status=204, headers={"HX-Redirect": login["Location"]})
            return redirect_to_login(request.get_full_path())
        memberships = memberships_of(request.user)
        chosen = request.session.get(SESSION_KEY)
        current = next((m for m in memberships if m.tenant_id == chosen), None)
        if current is None:
            if not memberships:
                return render(request, "web/no_access.html", status=403)
            if len(memberships) > 1:
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('web:tenants')}?{query}")
            current = memberships[0]
            request.session[SESSION_KEY] = current.tenant_id
        portal = Portal(membership=current, memberships=memberships)
        if request.method not in SAFE_METHODS and not portal.can_edit:
            raise PermissionDenied
        request.portal = portal  # type: ignore[attr-defined]
        timezone.activate(zoneinfo.ZoneInfo(current.tenant.timezone))
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper


def tenant_of(request: HttpRequest) -> Tenant:
    return request.portal.tenant  # type: ignore[attr-defined]


def get_scoped_or_404(queryset: QuerySet[Any], request: HttpRequest, pk: int) -> Any:
    """This customer's object, or 404 exactly like a missing one."""
    found = queryset.for_tenant(tenant_of(request)).filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


def require_editor(request: HttpRequest) -> None:
    """For GET views that show secrets: the read-only role does not see passwords."""
    if not request.portal.can_edit:  # type: ignore[attr-defined]
        raise PermissionDenied


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (not a history restore, which needs a page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
