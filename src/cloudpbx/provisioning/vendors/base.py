"""What every vendor plugin declares. Django-free: the provisioning engine imports it too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhoneModel:
    key: str  # as stored and as the phone names itself, e.g. "T54W"
    label: str  # as shown in the portal, e.g. "T54W"


@dataclass(frozen=True)
class Vendor:
    key: str
    name: str
    models: tuple[PhoneModel, ...]
    has_redirect_api: bool

    def model(self, key: str) -> PhoneModel | None:
        return next((m for m in self.models if m.key == key), None)


def models_of(*keys: str) -> tuple[PhoneModel, ...]:
    return tuple(PhoneModel(key=key, label=key) for key in keys)
