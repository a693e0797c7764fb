from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from cloudpbx.core.models import BaseModel


class User(AbstractUser):
    """Custom from day one. ``is_staff`` users are operators (admin, numbers, trunks)."""

    language = models.CharField(
        verbose_name=_("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Empty: the browser's language."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def can_access(self, tenant_id: int) -> bool:
        return self.is_active and (
            self.is_staff or self.memberships.filter(tenant_id=tenant_id).exists()
        )


class ApiToken(BaseModel):
    """A bearer token for one user acting in one tenant. Only a hash is stored."""

    user = models.ForeignKey(
        "accounts.User",
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(verbose_name=_("name"), max_length=100)
    key_id = models.CharField(verbose_name=_("key id"), max_length=16, unique=True)
    key_hash = models.CharField(verbose_name=_("key hash"), max_length=64)
    created = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    last_used = models.DateTimeField(verbose_name=_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id}…)"
