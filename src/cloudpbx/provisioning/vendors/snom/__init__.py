"""Snom D7xx/D8xx desk phones (firmware ≥ 10), provisioned with ``snom<MODEL>-<MAC>.htm``."""

from cloudpbx.provisioning.vendors.base import Vendor, models_of

VENDOR = Vendor(
    key="snom",
    name="Snom",
    models=models_of("D713", "D715", "D717", "D735", "D785", "D862", "D865"),
    has_redirect_api=True,
)
