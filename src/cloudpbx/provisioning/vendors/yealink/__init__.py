"""Yealink T4x/T5x desk phones (firmware ≥ x.85), provisioned with ``<mac>.cfg``."""

from cloudpbx.provisioning.vendors.base import Vendor, models_of

VENDOR = Vendor(
    key="yealink",
    name="Yealink",
    models=models_of(
        "T41S",
        "T42S",
        "T46S",
        "T48S",
        "T42U",
        "T43U",
        "T46U",
        "T48U",
        "T53",
        "T53W",
        "T54W",
        "T57W",
    ),
    has_redirect_api=True,
)
