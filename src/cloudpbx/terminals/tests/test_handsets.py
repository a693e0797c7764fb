"""DECT bases with several handsets, through the service layer: each handset a terminal of
the base's customer, within the model's limit, numbered for good, removed before its base."""

import pytest
from django.core.exceptions import ValidationError

from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings
from cloudpbx.testing import make_tenant


def errors_of(call, *args, **kwargs):
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value.message_dict


def automatic_phone(tenant, manufacturer, model, mac, name, **values):
    """An IP phone in automatic configuration (a DECT base when its model is one)."""
    return services.create_terminal(
        tenant,
        name=name,
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer=manufacturer, model=model, mac=mac),
        **values,
    )


def base_of(tenant, model="N870", mac="7c:2f:80:e0:d6:05", name="Basis", **values):
    terminal = automatic_phone(tenant, "gigaset", model, mac, name, **values)
    assert terminal.device is not None
    return terminal.device


def handset(base, name, **values):
    return services.create_terminal(base.tenant, base=base, name=name, type="ip_phone", **values)


def test_a_handset_is_an_ip_phone_of_its_own_with_a_number_on_its_base(tenant):
    base = base_of(tenant)
    ext = Extension.objects.for_tenant(tenant).get(number="11")
    lager = handset(base, "Lager", internal_extension=ext, ringing_extensions=[ext])

    assert lager.type == "ip_phone" and lager.config_mode == "automatic"
    assert lager.base == base and lager.handset_number == 2
    assert lager.device is None  # configured by the base's file
    assert lager.sip_username and lager.sip_username != base.terminal.sip_username
    assert lager.sip_password and lager.sip_ha1
    assert lager.internal_display_name == "Lager"
    assert list(lager.ringing_extensions.all()) == [ext]
    assert list(base.handsets.all()) == [lager]
    base.refresh_from_db()
    assert base.handset_registration_from is not None


def test_a_new_handset_never_takes_the_number_of_one_just_removed(tenant):
    base = base_of(tenant)
    first, second = handset(base, "Eins"), handset(base, "Zwei")
    assert (first.handset_number, second.handset_number) == (2, 3)
    services.delete_terminal(second)
    assert handset(base, "Drei").handset_number == 4


def test_a_full_base_gives_its_freed_numbers_again(tenant):
    base = base_of(tenant, model="N670")
    handsets = [handset(base, f"Mobilteil {n}") for n in range(2, 21)]
    services.delete_terminal(handsets[3])  # number 5
    assert handset(base, "Neu").handset_number == 5


def test_the_base_takes_no_more_handsets_than_its_model_and_saves_nothing(tenant):
    base = base_of(tenant, model="N670")
    for number in range(2, 21):  # the base's own terminal is handset 1 of 20
        handset(base, f"Mobilteil {number}")
    errors = errors_of(handset, base, "Einer zu viel")
    assert errors == {
        "base": ["A Gigaset N670 base takes at most 20 handsets, its own terminal included."]
    }
    assert not Terminal.objects.filter(name="Einer zu viel").exists()
    assert base.handsets.count() == 19


def test_limits_per_model_as_the_vendor_documents_them():
    from cloudpbx.provisioning.vendors import VENDORS

    gigaset = VENDORS["gigaset"]
    assert {m.key: m.handsets for m in gigaset.models if m.is_dect_base} == {
        "N670": 20,
        "N870": 250,
        "N870E": 250,
    }
    others = [m for v in VENDORS.values() for m in v.models if v.key != "gigaset"]
    assert {m.handsets for m in others} == {1}
    assert gigaset.model("Maxwell 3").handsets == 1


@pytest.mark.parametrize(
    ("manufacturer", "model", "mac"),
    [("yealink", "T54W", "80:5e:c0:12:34:56"), ("gigaset", "Maxwell 3", "7c:2f:80:e0:d6:06")],
)
def test_a_phone_that_is_no_dect_base_takes_no_handsets(tenant, manufacturer, model, mac):
    desk = automatic_phone(tenant, manufacturer, model, mac, "Tisch")
    errors = errors_of(handset, desk.device, "Mobilteil")
    assert list(errors) == ["base"]
    assert "is not a DECT base" in errors["base"][0]
    assert not Terminal.objects.filter(name="Mobilteil").exists()


def test_another_customers_base_is_refused_and_nothing_is_created(tenant):
    other = make_tenant("Andere AG")
    foreign = base_of(other, mac="7c:2f:80:e0:d6:99")
    with pytest.raises(ValidationError) as caught:
        services.create_terminal(tenant, base=foreign, name="Fremd", type="ip_phone")
    assert caught.value.message_dict["base"] == ["Choose a DECT base of this customer."]
    assert not Terminal.objects.filter(name="Fremd").exists()
    assert not foreign.handsets.exists()


def test_a_handset_stays_an_automatic_ip_phone_of_its_base(tenant):
    lager = handset(base_of(tenant), "Lager")
    assert "type" in errors_of(services.update_terminal, lager, type="app")
    lager = Terminal.objects.get(pk=lager.pk)
    assert "config_mode" in errors_of(services.update_terminal, lager, config_mode="manual")
    lager = Terminal.objects.get(pk=lager.pk)
    services.update_terminal(lager, name="Lager Nord")  # everything else as any terminal
    assert Terminal.objects.get(pk=lager.pk).name == "Lager Nord"


def test_handsets_share_the_media_encryption_of_their_base(tenant):
    base = base_of(tenant)
    lager = handset(base, "Lager")
    errors = errors_of(services.update_terminal, lager, media_encryption="required")
    assert errors == {
        "media_encryption": [
            "A handset uses the media encryption of its DECT base: change it on the base."
        ]
    }
    services.update_terminal(base.terminal, media_encryption="optional")
    assert Terminal.objects.get(pk=lager.pk).media_encryption == "optional"
    assert handset(base, "Werkstatt").media_encryption == "optional"


def test_a_base_with_handsets_is_neither_deleted_nor_unmade(tenant):
    base = base_of(tenant)
    lager = handset(base, "Lager")
    message = "Remove the handsets of this DECT base first: they belong to it."
    assert errors_of(services.delete_terminal, base.terminal) == {"base": [message]}
    terminal = Terminal.objects.get(pk=base.terminal_id)
    assert errors_of(services.update_terminal, terminal, config_mode="manual") == {
        "config_mode": [message]
    }
    terminal = Terminal.objects.get(pk=base.terminal_id)
    maxwell = DeviceSettings(manufacturer="gigaset", model="Maxwell 3", mac=base.mac)
    errors = errors_of(services.update_terminal, terminal, device=maxwell)
    assert "device.model" in errors
    assert ProvisioningDevice.objects.get(pk=base.pk).model == "N870"

    services.delete_terminal(lager)  # its account leaves the base's file
    assert not base.handsets.exists()
    services.delete_terminal(Terminal.objects.get(pk=base.terminal_id))
    assert not ProvisioningDevice.objects.filter(pk=base.pk).exists()


def test_opening_the_registration_window_again(tenant):
    base = base_of(tenant)
    before = base.handset_registration_from
    device_services.open_handset_registration(base)
    assert ProvisioningDevice.objects.get(pk=base.pk).handset_registration_from > before
    desk = automatic_phone(tenant, "yealink", "T54W", "80:5e:c0:12:34:56", "Tisch")
    assert "base" in errors_of(device_services.open_handset_registration, desk.device)


def test_every_change_of_a_handset_re_syncs_its_base(
    tenant, monkeypatch, django_capture_on_commit_callbacks
):
    from cloudpbx.provisioning import jobs

    synced = []
    monkeypatch.setattr(jobs, "resync_job", synced.append)
    base = base_of(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        lager = handset(base, "Lager")
    with django_capture_on_commit_callbacks(execute=True):
        services.update_terminal(lager, name="Lager Nord")
    with django_capture_on_commit_callbacks(execute=True):
        services.set_sip_password(lager)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_terminal(lager)
    assert synced == [base.terminal_id] * 4  # added, changed, new password, removed
