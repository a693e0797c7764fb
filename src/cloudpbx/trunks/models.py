from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from cloudpbx.core import crypto
from cloudpbx.core.addresses import AddressError, parse_network
from cloudpbx.core.models import BaseModel


class Trunk(BaseModel):
    """A carrier trunk (operator level): where external calls leave and DIDs come in."""

    class Transport(models.TextChoices):
        UDP = "udp", "UDP"
        TCP = "tcp", "TCP"
        TLS = "tls", "TLS"

    class HeaderStyle(models.TextChoices):
        PAI = "pai", _("Shown number in From, network number in P-Asserted-Identity")
        PPI = "ppi", _("Shown number in P-Preferred-Identity, network number in From")

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    gateway = models.CharField(
        verbose_name=_("gateway"), max_length=255, help_text=_("Host name or IP address.")
    )
    port = models.PositiveIntegerField(verbose_name=_("port"), default=5060)
    transport = models.CharField(
        verbose_name=_("transport"), max_length=3, choices=Transport.choices, default="udp"
    )
    auth_username = models.CharField(verbose_name=_("username"), max_length=64, blank=True)
    auth_password_encrypted = models.TextField(blank=True, editable=False)
    source_networks = models.JSONField(
        verbose_name=_("source networks"),
        default=list,
        blank=True,
        help_text=_("Requests from these addresses are accepted as calls from this trunk."),
    )
    header_style = models.CharField(
        verbose_name=_("caller-ID headers"),
        max_length=8,
        choices=HeaderStyle.choices,
        default=HeaderStyle.PAI,
    )
    is_default = models.BooleanField(verbose_name=_("default trunk"), default=False)
    trust_media_address = models.BooleanField(
        verbose_name=_("trust the media address in SDP"),
        default=True,
        help_text=_(
            "Send the carrier's media to the address its SDP names (a public address is "
            "required). Off: to the address its signalling comes from."
        ),
    )

    class Meta:
        verbose_name = _("trunk")
        verbose_name_plural = _("trunks")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="trunk_one_default",
                violation_error_message=_("Another trunk is already the default."),
            ),
            models.CheckConstraint(
                condition=models.Q(port__gte=1, port__lte=65535),
                name="trunk_port_range",
                violation_error_message=_("Enter a port between 1 and 65535."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def auth_password(self) -> str:
        return crypto.decrypt(self.auth_password_encrypted) if self.auth_password_encrypted else ""

    def set_auth_password(self, password: str) -> None:
        self.auth_password_encrypted = crypto.encrypt(password) if password else ""

    def clean(self) -> None:
        networks = []
        for raw in self.source_networks or []:
            try:
                networks.append(parse_network(str(raw), limit_width=False))
            except AddressError as error:
                raise ValidationError(
                    {
                        "source_networks": ValidationError(
                            _("%(value)s is not an IP address or range."), params={"value": raw}
                        )
                    }
                ) from error
        self.source_networks = networks
