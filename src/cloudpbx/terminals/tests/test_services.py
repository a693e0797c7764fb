"""Every terminal rule, through the service layer (the one write path)."""

import logging

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from cloudpbx.core import credentials
from cloudpbx.extensions.models import Extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning import services as device_services
from cloudpbx.provisioning.models import ProvisioningDevice
from cloudpbx.tenancy.services import update_tenant
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings
from cloudpbx.testing import make_tenant


def errors_of(call, *args, **kwargs):
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value.message_dict


def yealink(mac="80:5e:c0:12:34:56", **extra):
    return DeviceSettings(manufacturer="yealink", model="T54W", mac=mac, **extra)


def ip_phone(tenant, name="Desk", **values):
    return services.create_terminal(
        tenant, name=name, type="ip_phone", generate_credentials=True, **values
    )


# --- basic settings -------------------------------------------------------------------------


def test_defaults_of_a_new_ip_phone(tenant):
    terminal = ip_phone(tenant)
    main = PhoneNumber.objects.get(tenant=tenant, is_main=True)
    assert terminal.external_calls_enabled is True
    assert terminal.identification_number == main
    assert terminal.caller_id_mode == "pbx_number"
    assert terminal.caller_id_number == main
    assert terminal.internal_display_name == "Desk"
    assert terminal.config_mode == "manual"


def test_name_is_required(tenant):
    assert "name" in errors_of(services.create_terminal, tenant, name="  ", type="app")
    assert not Terminal.objects.exists()


def test_name_is_unique_within_the_tenant_only(tenant):
    ip_phone(tenant, name="Reception")
    errors = errors_of(ip_phone, tenant, name="Reception")
    assert errors == {"name": ["Another terminal already has this name."]}
    other = make_tenant()
    assert ip_phone(other, name="Reception").tenant == other


def test_unknown_type_is_refused(tenant):
    assert "type" in errors_of(services.create_terminal, tenant, name="X", type="fax")


def test_a_customer_without_numbers_calls_anonymously_by_default(db):
    terminal = ip_phone(make_tenant())
    assert terminal.caller_id_mode == "anonymous"
    assert terminal.identification_number is None


# --- outbound -------------------------------------------------------------------------------


def test_numbers_and_extensions_of_another_tenant_are_refused(tenant):
    other = make_tenant()
    foreign_number = PhoneNumber.objects.create(tenant=other, e164="+498912345678")
    foreign_extension = Extension.objects.create(tenant=other, number="10")
    errors = errors_of(
        ip_phone,
        tenant,
        identification_number=foreign_number,
        caller_id_number=foreign_number,
        internal_extension=foreign_extension,
    )
    assert set(errors) == {"identification_number", "caller_id_number", "internal_extension"}
    errors = errors_of(ip_phone, tenant, name="Y", ringing_extensions=[foreign_extension])
    assert set(errors) == {"ringing_extensions"}
    assert not Terminal.objects.filter(tenant=tenant).exists()


def test_custom_caller_id_is_normalised(tenant):
    terminal = ip_phone(tenant, caller_id_mode="custom", caller_id_custom="030 9876 5432")
    assert terminal.caller_id_custom == "+493098765432"
    assert terminal.caller_id_number is None


def test_custom_caller_id_refuses_a_number_of_another_customer(tenant):
    PhoneNumber.objects.create(tenant=make_tenant(), e164="+493098765432")
    errors = errors_of(ip_phone, tenant, caller_id_mode="custom", caller_id_custom="030 9876 5432")
    assert errors == {
        "caller_id_custom": [
            "This number belongs to another customer of this platform and cannot be shown."
        ]
    }
    assert not Terminal.objects.filter(tenant=tenant).exists()
    # The customer's own number (or one it holds elsewhere) stays allowed.
    PhoneNumber.objects.create(tenant=tenant, e164="+493098765433")
    for own, e164 in (("030 9876 5433", "+493098765433"), ("030 9876 5434", "+493098765434")):
        phone = ip_phone(tenant, name=own, caller_id_mode="custom", caller_id_custom=own)
        assert (phone.caller_id_mode, phone.caller_id_custom) == ("custom", e164)


def test_custom_caller_id_needs_a_number(tenant):
    assert "caller_id_custom" in errors_of(ip_phone, tenant, caller_id_mode="custom")


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("0900 1234567", "premium"),
        ("110", "emergency"),
        ("112", "emergency"),
        ("11833", "directory"),
        ("0137 9123456", "mass"),
        ("0180 5123456", "0180"),
        ("+33 1 40 00 00 00", "numbering space"),
        ("call me", "valid phone number"),
    ],
)
def test_custom_caller_id_refusals_name_the_rule(tenant, raw, rule):
    errors = errors_of(ip_phone, tenant, caller_id_mode="custom", caller_id_custom=raw)
    assert list(errors) == ["caller_id_custom"]
    assert rule.lower() in errors["caller_id_custom"][0].lower()


def test_french_custom_caller_id_refusals(french_tenant):
    errors = errors_of(
        ip_phone, french_tenant, caller_id_mode="custom", caller_id_custom="0899 123 456"
    )
    assert "caller_id_custom" in errors
    terminal = ip_phone(french_tenant, caller_id_mode="custom", caller_id_custom="01 42 00 00 00")
    assert terminal.caller_id_custom == "+33142000000"


def test_pbx_number_mode_needs_a_number_of_the_pbx(tenant):
    terminal = ip_phone(tenant)
    PhoneNumber.objects.filter(tenant=tenant).delete()
    terminal.refresh_from_db()
    errors = errors_of(services.update_terminal, terminal, caller_id_mode="pbx_number")
    assert "caller_id_number" in errors


def test_changing_the_mode_clears_the_other_modes_value(tenant):
    terminal = ip_phone(tenant, caller_id_mode="custom", caller_id_custom="030 9876 5432")
    services.update_terminal(terminal, caller_id_mode="anonymous")
    terminal.refresh_from_db()
    assert terminal.caller_id_custom == ""
    assert terminal.caller_id_number is None


# --- external phones ------------------------------------------------------------------------


def test_external_phone_number_accepts_national_input(tenant):
    terminal = services.create_terminal(
        tenant, name="Mobile", type="external", external_number="0151 2345 6789"
    )
    assert terminal.external_number == "+4915123456789"
    assert terminal.sip_username is None


def test_external_phone_may_be_abroad(tenant):
    terminal = services.create_terminal(
        tenant, name="Mobile FR", type="external", external_number="+33 6 12 34 56 78"
    )
    assert terminal.external_number == "+33612345678"


@pytest.mark.parametrize("raw", ["", "112", "0900 1234567", "11880", "abc"])
def test_external_phone_refusals(tenant, raw):
    errors = errors_of(
        services.create_terminal, tenant, name="M", type="external", external_number=raw
    )
    assert list(errors) == ["external_number"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("+1 212 555 1234", "is in United States, which this customer may not call."),
        ("+53 5 1234567", "known for toll fraud (+53)"),
        ("0700 1234 5678", "personal number (+49 700)"),
    ],
)
def test_external_phone_only_in_the_customers_destinations(tenant, raw, fragment):
    # The trunk rings an external phone: it must not reach where the customer may not call.
    errors = errors_of(
        services.create_terminal, tenant, name="M", type="external", external_number=raw
    )
    assert fragment in errors["external_number"][0]
    assert not Terminal.objects.filter(name="M").exists()


def test_external_phone_in_a_country_the_operator_added(tenant):
    update_tenant(
        tenant, allowed_destination_countries=[*tenant.allowed_destination_countries, "US"]
    )
    terminal = services.create_terminal(
        tenant, name="M", type="external", external_number="+1 212 555 1234"
    )
    assert terminal.external_number == "+12125551234"


def test_external_phones_get_no_sip_account_even_when_asked(tenant):
    terminal = services.create_terminal(
        tenant,
        name="M",
        type="external",
        external_number="015123456789",
        generate_credentials=True,
    )
    assert terminal.sip_username is None
    assert terminal.sip_password == ""


# --- type changes ---------------------------------------------------------------------------


def test_changing_to_external_clears_outbound_credentials_and_device(tenant):
    terminal = ip_phone(
        tenant,
        config_mode="automatic",
        device=yealink(),
        caller_id_mode="custom",
        caller_id_custom="03098765432",
    )
    services.update_terminal(terminal, type="external", external_number="015123456789")
    terminal = Terminal.objects.get(pk=terminal.pk)
    assert terminal.sip_username is None
    assert terminal.sip_password_encrypted == terminal.sip_ha1 == ""
    assert terminal.identification_number is None
    assert terminal.caller_id_custom == ""
    assert terminal.config_mode == "manual"
    assert not ProvisioningDevice.objects.exists()


def test_changing_to_app_keeps_the_sip_account_but_drops_the_device(tenant):
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    username = terminal.sip_username
    services.update_terminal(terminal, type="app")
    terminal.refresh_from_db()
    assert terminal.sip_username == username
    assert terminal.config_mode == "manual"
    assert not ProvisioningDevice.objects.exists()


def test_changing_external_to_ip_phone_clears_the_number(tenant):
    terminal = services.create_terminal(
        tenant, name="M", type="external", external_number="015123456789"
    )
    services.update_terminal(terminal, type="ip_phone", generate_credentials=True)
    terminal.refresh_from_db()
    assert terminal.external_number == ""
    assert terminal.sip_username


def test_apps_cannot_be_configured_automatically(tenant):
    terminal = services.create_terminal(tenant, name="App", type="app", config_mode="automatic")
    assert terminal.config_mode == "manual"


# --- SIP credentials ------------------------------------------------------------------------


def test_credentials_only_when_generation_is_asked(tenant):
    terminal = services.create_terminal(tenant, name="Later", type="ip_phone")
    assert terminal.sip_username is None
    services.update_terminal(terminal, generate_credentials=True)
    assert terminal.sip_username


def test_generated_credentials_are_stored_encrypted_with_ha1(tenant, settings):
    terminal = ip_phone(tenant)
    password = terminal.sip_password
    assert len(password) >= 20
    realm = settings.CLOUDPBX_SIP_REALM
    assert terminal.sip_ha1 == credentials.ha1_md5(terminal.sip_username, realm, password)
    assert terminal.sip_ha1_sha256 == credentials.ha1_sha256(terminal.sip_username, realm, password)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sip_password_encrypted FROM terminals_terminal")
        stored = cursor.fetchone()[0]
    assert password not in stored


def test_sip_usernames_are_unique_across_tenants(tenant):
    other = make_tenant()
    names = {ip_phone(t, name=f"P{i}").sip_username for i in range(10) for t in (tenant, other)}
    assert len(names) == 20


def test_rotating_the_sip_password(tenant):
    terminal = ip_phone(tenant)
    old_password, old_ha1 = terminal.sip_password, terminal.sip_ha1
    new = services.set_sip_password(terminal)
    terminal.refresh_from_db()
    assert new == terminal.sip_password != old_password
    assert terminal.sip_ha1 != old_ha1


def test_setting_a_chosen_sip_password(tenant):
    terminal = ip_phone(tenant)
    services.set_sip_password(terminal, "Tr4m-Gleis-Nord-7")
    terminal.refresh_from_db()
    assert terminal.sip_password == "Tr4m-Gleis-Nord-7"


def test_weak_chosen_sip_password_changes_nothing(tenant):
    terminal = ip_phone(tenant)
    before = terminal.sip_password
    errors = errors_of(services.set_sip_password, terminal, "short")
    assert list(errors) == ["password"]
    terminal.refresh_from_db()
    assert terminal.sip_password == before


def test_no_password_for_a_terminal_without_sip_account(tenant):
    terminal = services.create_terminal(
        tenant, name="M", type="external", external_number="015123456789"
    )
    assert "password" in errors_of(services.set_sip_password, terminal)


# --- automatic configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "notation",
    [
        "80:5E:C0:12:34:56",
        "80-5e-c0-12-34-56",
        "805e.c012.3456",
        "805EC0123456",
        " 80 5e c0 12 34 56 ",
    ],
)
def test_mac_in_any_usual_notation(tenant, notation):
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink(notation))
    assert terminal.device.mac == "805ec0123456"


@pytest.mark.parametrize(
    ("mac", "message"),
    [
        ("80:5e:c0:12:34", "12 hexadecimal digits"),
        ("80:5e:c0:12:34:5g", "12 hexadecimal digits"),
        ("00:00:00:00:00:00", "not a device address"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
        ("01:00:5e:00:00:01", "multicast"),
        ("", "12 hexadecimal digits"),
    ],
)
def test_malformed_macs_are_refused(tenant, mac, message):
    errors = errors_of(ip_phone, tenant, config_mode="automatic", device=yealink(mac))
    assert list(errors) == ["device.mac"]
    assert message in errors["device.mac"][0]
    assert not Terminal.objects.exists()


def test_a_mac_another_tenant_entered_too_is_accepted_without_a_hint(tenant):
    """Refusing it would tell this customer that the phone is someone else's, and let
    whoever types a MAC first keep its owner from configuring it."""
    theirs = ip_phone(make_tenant(), config_mode="automatic", device=yealink())
    mine = ip_phone(tenant, config_mode="automatic", device=yealink("805EC0123456"))
    assert mine.device.mac == theirs.device.mac == "805ec0123456"
    assert mine.device.tenant_id == tenant.pk
    assert (mine.device.bound_at, theirs.device.bound_at) == (None, None)


def test_a_mac_used_twice_by_the_same_tenant_is_refused_with_a_message_about_its_own(tenant):
    ip_phone(tenant, config_mode="automatic", device=yealink())
    errors = errors_of(
        ip_phone, tenant, name="Other", config_mode="automatic", device=yealink("805EC0123456")
    )
    assert errors == {"device.mac": ["Another terminal of this PBX already uses this MAC address."]}


def test_a_new_mac_forgets_the_binding_of_the_old_one(tenant):
    from django.utils import timezone

    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    ProvisioningDevice.objects.update(bound_at=timezone.now(), bound_by="credentials")
    terminal = Terminal.objects.get(pk=terminal.pk)
    services.update_terminal(terminal, device=yealink("80:5e:c0:12:34:56"))  # same MAC
    assert ProvisioningDevice.objects.get().bound_by == "credentials"
    services.update_terminal(terminal, device=yealink("80:5e:c0:65:43:21"))
    device = ProvisioningDevice.objects.get()
    assert (device.mac, device.bound_at, device.bound_by) == ("805ec0654321", None, "")


def test_unsupported_model_lists_the_supported_ones(tenant):
    device = DeviceSettings(manufacturer="snom", model="T54W", mac="00:04:13:12:34:56")
    errors = errors_of(ip_phone, tenant, config_mode="automatic", device=device)
    assert "Snom T54W is not supported" in errors["device.model"][0]
    assert "D785" in errors["device.model"][0]


def test_unknown_manufacturer_is_refused(tenant):
    device = DeviceSettings(manufacturer="cisco", model="7960", mac="00:04:13:12:34:56")
    errors = errors_of(ip_phone, tenant, config_mode="automatic", device=device)
    assert "device.manufacturer" in errors


def test_automatic_mode_needs_a_device(tenant):
    errors = errors_of(ip_phone, tenant, config_mode="automatic")
    assert list(errors) == ["device"]


def test_automatic_mode_always_has_sip_and_acs_credentials(tenant):
    terminal = services.create_terminal(
        tenant, name="Auto", type="ip_phone", config_mode="automatic", device=yealink()
    )
    device = terminal.device
    assert terminal.sip_username and terminal.sip_password
    assert device.acs_username and len(device.acs_password) >= 20
    assert device.acs_username != terminal.sip_username


def test_rotating_the_acs_password(tenant):
    device = ip_phone(tenant, config_mode="automatic", device=yealink()).device
    old = device.acs_password
    new = device_services.set_acs_password(device)
    device.refresh_from_db()
    assert device.acs_password == new != old


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        (["192.0.2.10"], ["192.0.2.10/32"]),
        (["192.0.2.0/24", "198.51.100.7"], ["192.0.2.0/24", "198.51.100.7/32"]),
        (["10.1.0.0/16"], ["10.1.0.0/16"]),
        (["2001:db8:1::/48"], ["2001:db8:1::/48"]),
        (["192.0.2.77/24"], ["192.0.2.0/24"]),
    ],
)
def test_trusted_networks_accepted(tenant, networks, expected):
    device = yealink(auth_mode="trusted_ip", trusted_networks=networks)
    terminal = ip_phone(tenant, config_mode="automatic", device=device)
    assert terminal.device.trusted_networks == expected
    assert terminal.device.acs_username is None
    assert terminal.device.acs_password == ""


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        (["10.0.0.0/8"], "too wide"),
        (["0.0.0.0/0"], "too wide"),
        (["2001:db8::/32"], "too wide"),
        (["192.0.2.300"], "not an IP address"),
        (["office"], "not an IP address"),
        ([], "at least one"),
    ],
)
def test_trusted_networks_refused(tenant, networks, message):
    device = yealink(auth_mode="trusted_ip", trusted_networks=networks)
    errors = errors_of(ip_phone, tenant, config_mode="automatic", device=device)
    assert list(errors) == ["device.trusted_networks"]
    assert message in " ".join(errors["device.trusted_networks"])


def test_switching_to_trusted_ip_drops_the_acs_credentials(tenant):
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    services.update_terminal(
        terminal, device=yealink(auth_mode="trusted_ip", trusted_networks=["192.0.2.0/24"])
    )
    device = ProvisioningDevice.objects.get(terminal=terminal)
    assert device.acs_username is None
    assert device.acs_password_encrypted == ""
    assert "password" in errors_of(device_services.set_acs_password, device)


def test_switching_back_to_manual_removes_the_device(tenant):
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    services.update_terminal(terminal, config_mode="manual")
    assert not ProvisioningDevice.objects.exists()
    assert Terminal.objects.get(pk=terminal.pk).sip_username


def test_delete_removes_terminal_and_device(tenant):
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    services.delete_terminal(terminal)
    assert not Terminal.objects.exists()
    assert not ProvisioningDevice.objects.exists()


# --- inbound --------------------------------------------------------------------------------


def test_several_extensions_ring_one_terminal_and_update_replaces_them(tenant):
    ten, eleven, twenty = (
        Extension.objects.get(tenant=tenant, number=n) for n in ("10", "11", "20")
    )
    terminal = ip_phone(tenant, ringing_extensions=[ten, twenty])
    assert set(terminal.ringing_extensions.all()) == {ten, twenty}
    services.update_terminal(terminal, ringing_extensions=[eleven])
    assert list(terminal.ringing_extensions.all()) == [eleven]
    services.update_terminal(terminal, name="Renamed")
    assert list(terminal.ringing_extensions.all()) == [eleven]


# --- secrets never logged -------------------------------------------------------------------


def test_secrets_never_appear_in_logs(tenant, caplog):
    caplog.set_level(logging.DEBUG)
    terminal = ip_phone(tenant, config_mode="automatic", device=yealink())
    device = terminal.device
    secrets_seen = {terminal.sip_password, device.acs_password}
    secrets_seen.add(services.set_sip_password(terminal))
    secrets_seen.add(services.set_sip_password(terminal, "Tr4m-Gleis-Nord-7"))
    secrets_seen.add(device_services.set_acs_password(device))
    services.update_terminal(terminal, name="Renamed")
    assert caplog.records, "the services log their changes"
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets_seen:
        assert secret not in text
