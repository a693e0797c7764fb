"""The REST API's token auth, tenant scoping and permissions: a token acts for one user in
one tenant, with that user's role there."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import HttpBearer

from cloudpbx.accounts.models import ApiToken
from cloudpbx.accounts.services import authenticate_token
from cloudpbx.tenancy.models import Membership, Tenant


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; a token acts for one user in one tenant."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return authenticate_token(token)


def tenant_of(request: HttpRequest) -> Tenant:
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    return token.tenant


def get_scoped_or_404(queryset: QuerySet[Any], request: HttpRequest, pk: int) -> Any:
    """Another tenant's object is indistinguishable from a missing one: 404."""
    obj = queryset.for_tenant(tenant_of(request)).filter(pk=pk).first()  # type: ignore[attr-defined]
    if obj is None:
        raise Http404
    return obj


def require_admin(request: HttpRequest) -> None:
    """Writes need the customer's admin role (or an operator)."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    if token.user.is_staff:
        return
    role = (
        Membership.objects.filter(user=token.user, tenant=token.tenant)
        .values_list("role", flat=True)
        .first()
    )
    if role != Membership.Role.ADMIN:
        raise HttpError(403, _("Your role only allows reading."))


def require_operator(request: HttpRequest) -> None:
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    if not token.user.is_staff:
        raise HttpError(403, _("Only the operator can do this."))
