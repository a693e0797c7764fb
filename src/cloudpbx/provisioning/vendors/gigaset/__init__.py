"""Gigaset DECT IP base stations (N670/N870 and Maxwell), provisioned with ``<mac>.xml``."""

from cloudpbx.provisioning.vendors.base import PhoneModel, Vendor

VENDOR = Vendor(
    key="gigaset",
    name="Gigaset",
    models=(
        PhoneModel(key="N670", label="N670 IP PRO"),
        PhoneModel(key="N870", label="N870 IP PRO"),
        PhoneModel(key="N870E", label="N870E IP PRO"),
        PhoneModel(key="Maxwell Basic", label="Maxwell Basic"),
        PhoneModel(key="Maxwell 2", label="Maxwell 2"),
        PhoneModel(key="Maxwell 3", label="Maxwell 3"),
        PhoneModel(key="Maxwell 4", label="Maxwell 4"),
    ),
    has_redirect_api=True,
)
