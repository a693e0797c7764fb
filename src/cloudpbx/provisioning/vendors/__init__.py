"""The vendor registry: plain imports and a dict, one entry per manufacturer."""

from cloudpbx.provisioning.vendors import gigaset, htek, snom, yealink
from cloudpbx.provisioning.vendors.base import PhoneModel, Vendor

VENDORS: dict[str, Vendor] = {
    vendor.key: vendor for vendor in (gigaset.VENDOR, htek.VENDOR, snom.VENDOR, yealink.VENDOR)
}
MANUFACTURER_CHOICES: list[tuple[str, str]] = [(v.key, v.name) for v in VENDORS.values()]

__all__ = ["MANUFACTURER_CHOICES", "VENDORS", "PhoneModel", "Vendor"]
