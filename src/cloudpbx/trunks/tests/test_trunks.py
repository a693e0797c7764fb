import pytest
from django.core.exceptions import ValidationError

from cloudpbx.trunks.models import Trunk
from cloudpbx.trunks.services import save_trunk


def make(**values):
    return save_trunk(
        Trunk(name=values.pop("name", "Carrier"), gateway="sip.carrier.example", **values)
    )


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
    save_trunk(make(), password="Carrier-Secret-1")
    stored = Trunk.objects.values_list("auth_password_encrypted", flat=True).get()
    assert "Carrier-Secret-1" not in stored
    assert Trunk.objects.get().auth_password == "Carrier-Secret-1"


def test_changes_reach_kamailio(transactional_db):
    from cloudpbx.core import events

    seen = []

    def record(**payload):
        seen.append(payload)

    events.subscribe("trunk.changed", record)
    try:
        trunk = make()
        save_trunk(trunk, password="Carrier-Secret-2")
    finally:
        events.unsubscribe("trunk.changed", record)
    assert seen == [{"trunk_id": trunk.pk}, {"trunk_id": trunk.pk}]
