"""Htek UC9xx desk phones, provisioned with ``cfg<mac>.xml``. Htek has no redirect API."""

from cloudpbx.provisioning.vendors.base import Vendor, models_of

VENDOR = Vendor(
    key="htek",
    name="Htek",
    models=models_of("UC902", "UC903", "UC912", "UC912E", "UC912G", "UC923", "UC924", "UC926"),
    has_redirect_api=False,
)
