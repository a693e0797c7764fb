import pytest
from django.core.exceptions import ValidationError

from cloudpbx.trunks.models import Trunk


def make(**values):
    trunk = Trunk(name=values.pop("name", "Carrier"), gateway="sip.carrier.example", **values)
    trunk.full_clean()
    trunk.save()
    return trunk


def test_source_networks_are_normalised_and_may_be_wide(db):
    trunk = make(source_networks=["192.0.2.10", "198.51.100.0/22", "10.0.0.0/8"])
    assert trunk.source_networks == ["192.0.2.10/32", "198.51.100.0/22", "10.0.0.0/8"]


def test_invalid_source_network_is_refused(db):
    with pytest.raises(ValidationError) as caught:
        make(source_networks=["carrier.example"])
    assert "source_networks" in caught.value.message_dict


def test_only_one_default_trunk(db):
    make(is_default=True)
    with pytest.raises(ValidationError) as caught:
        make(name="Backup", is_default=True)
    assert "Another trunk is already the default." in str(caught.value)


def test_password_is_encrypted_at_rest(db):
    trunk = make()
    trunk.set_auth_password("Carrier-Secret-1")
    trunk.save()
    stored = Trunk.objects.values_list("auth_password_encrypted", flat=True).get()
    assert "Carrier-Secret-1" not in stored
    assert Trunk.objects.get().auth_password == "Carrier-Secret-1"
