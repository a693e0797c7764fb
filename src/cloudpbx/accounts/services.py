"""Users and API tokens: the only write path."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cloudpbx.accounts.models import ApiToken, User
from cloudpbx.tenancy.models import Tenant

TOKEN_PREFIX = "cpbx"  # noqa: S105 (a label, not a secret)


def _hash(secret: str) -> str:
    # The secret has 256 bits of entropy: a fast hash is enough, no password hashing needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(user: User, tenant: Tenant, name: str) -> tuple[ApiToken, str]:
    """Create a token; the clear value is returned once and never stored."""
    if not user.can_access(tenant.pk):
        raise ValidationError({"tenant": _("This user has no access to this customer.")})
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user=user, tenant=tenant, name=name, key_id=key_id, key_hash=_hash(secret))
    token.full_clean()
    token.save()
    return token, f"{TOKEN_PREFIX}_{key_id}_{secret}"


def authenticate_token(raw: str) -> ApiToken | None:
    """Return the token for a presented value, or None; same work for every failure kind."""
    prefix, _sep, rest = raw.partition("_")
    key_id, _sep, secret = rest.partition("_")
    token = (
        ApiToken.objects.select_related("user", "tenant").filter(key_id=key_id).first()
        if prefix == TOKEN_PREFIX
        else None
    )
    expected = token.key_hash if token else _hash("")
    matches = hmac.compare_digest(expected, _hash(secret))
    if token is None or not matches or not token.user.can_access(token.tenant_id):
        return None
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token
