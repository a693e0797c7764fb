"""One MAC entered by several customers: who gets the file, the binding, the operator's
resolution in the admin, and the migration of devices that fetched before."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from cloudpbx.accounts.models import User
from cloudpbx.provisioning import claims, testing
from cloudpbx.provisioning.models import ProvisioningDevice, ProvisioningLockout
from cloudpbx.provisioning.tests.conftest import Phone
from cloudpbx.provisioning.tests.test_views import uniform, unknown
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, create_terminal
from cloudpbx.testing import make_tenant


def same_mac(theirs: Terminal, tenant: Tenant | None = None, **device: Any) -> Terminal:
    """Another customer's terminal with the MAC of ``theirs``."""
    existing = theirs.device
    assert existing is not None
    settings = DeviceSettings(
        manufacturer=existing.manufacturer,
        model=existing.model,
        mac=existing.mac,
        **device,
    )
    return create_terminal(
        tenant or make_tenant(),
        name="Same MAC",
        type="ip_phone",
        config_mode="automatic",
        device=settings,
    )


def device_of(terminal: Terminal) -> ProvisioningDevice:
    return ProvisioningDevice.objects.get(terminal=terminal)


def test_the_customer_whose_credentials_the_phone_uses_gets_its_file_and_the_mac(
    make_phone: Any,
) -> None:
    first = make_phone()
    second = same_mac(first)
    assert claims.state(device_of(first)) == claims.state(device_of(second)) == claims.CONFLICT

    phone = Phone(second)  # the phone was given the second customer's credentials
    response = phone.fetch()
    assert response.status_code == 200
    account = testing.read_account("yealink", response.content)
    assert account.username == second.sip_username
    bound = device_of(second)
    assert bound.bound_at is not None
    assert bound.bound_by == ProvisioningDevice.Binding.CREDENTIALS
    assert device_of(first).bound_at is None
    assert claims.state(device_of(first)) == claims.BOUND_ELSEWHERE

    # From now on the first customer's device is never served, even with its own credentials,
    # and its refusal is the one of a MAC nobody configured.
    other = Phone(first)
    refused = other.fetch()
    assert refused.status_code == 401
    path, agent = unknown(other)
    nobody = other.get(path, **agent)
    assert uniform(refused) == uniform(nobody)
    assert phone.fetch().status_code == 200


def test_a_sole_claimant_is_served_and_bound_by_its_first_fetch(phone: Phone) -> None:
    assert device_of(phone.terminal).bound_at is None
    assert phone.fetch().status_code == 200
    assert claims.state(device_of(phone.terminal)) == claims.BOUND
    # A customer entering the MAC afterwards never gets the phone.
    late = Phone(same_mac(phone.terminal))
    assert late.fetch().status_code == 401
    assert device_of(late.terminal).bound_at is None


def test_trusted_ip_the_customer_whose_network_holds_the_phone_gets_its_file(
    make_phone: Any,
) -> None:
    office = make_phone(auth_mode="trusted_ip", networks=("198.51.100.0/24",))
    elsewhere = same_mac(office, auth_mode="trusted_ip", trusted_networks=["203.0.113.0/24"])
    assert Phone(office).get(REMOTE_ADDR="203.0.113.7").status_code == 200
    assert device_of(elsewhere).bound_by == ProvisioningDevice.Binding.TRUSTED_IP
    assert device_of(office).bound_at is None
    assert Phone(office).get(REMOTE_ADDR="198.51.100.7").status_code == 401  # bound elsewhere


def test_overlapping_trusted_networks_serve_neither_and_count_no_failure(
    make_phone: Any, caplog: Any
) -> None:
    office = make_phone(auth_mode="trusted_ip", networks=("198.51.100.0/24",))
    overlapping = same_mac(office, auth_mode="trusted_ip", trusted_networks=["198.51.100.0/25"])
    phone = Phone(office)
    inside_both = phone.get(REMOTE_ADDR="198.51.100.7")
    assert inside_both.status_code == 401
    assert uniform(inside_both) == uniform(phone.get(REMOTE_ADDR="192.0.2.200"))
    assert "reason=ambiguous_mac" in caplog.text
    assert not ProvisioningLockout.objects.filter(key__contains="198.51.100.7").exists()
    assert device_of(office).bound_at is None and device_of(overlapping).bound_at is None
    # Only one of the two networks holds this address: no ambiguity.
    assert phone.get(REMOTE_ADDR="198.51.100.200").status_code == 200
    assert device_of(office).bound_at is not None


def test_a_mac_bound_to_one_manufacturer_is_not_served_as_another(make_phone: Any) -> None:
    yealink = make_phone()
    assert Phone(yealink).fetch().status_code == 200
    snom = create_terminal(
        make_tenant(),
        name="Snom",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings(manufacturer="snom", model="D785", mac=yealink.device.mac),
    )
    assert Phone(snom).fetch().status_code == 401


# --- the operator ------------------------------------------------------------------------------


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="correct-horse-battery-9"))
    return client


ADMIN = "/admin/provisioning/provisioningdevice/"


def test_the_operator_lists_contested_macs_and_binds_one_to_a_customer(
    make_phone: Any, operator: Client, settings: Any
) -> None:
    settings.ROOT_URLCONF = "cloudpbx.urls"
    first = make_phone()
    second = same_mac(first)
    alone = make_phone()
    page = operator.get(ADMIN, {"claimed": "several"})
    assert page.status_code == 200
    listed = page.content.decode()
    assert listed.count(first.device.mac) >= 2
    assert alone.device.mac not in listed
    assert "conflict" in listed
    assert device_of(second).acs_password not in listed

    answer = operator.post(
        ADMIN,
        {"action": "bind_mac", "_selected_action": [device_of(second).pk]},
        follow=True,
    )
    assert answer.status_code == 200
    assert "1 MAC address bound." in answer.content.decode()
    assert device_of(second).bound_by == ProvisioningDevice.Binding.OPERATOR
    assert Phone(first).fetch().status_code == 401
    assert Phone(second).fetch().status_code == 200

    # Rebinding to the first unbinds the second.
    operator.post(ADMIN, {"action": "bind_mac", "_selected_action": [device_of(first).pk]})
    assert device_of(second).bound_at is None
    assert Phone(first).fetch().status_code == 200
    assert Phone(second).fetch().status_code == 401


def test_two_devices_of_one_mac_cannot_both_be_bound(
    make_phone: Any, operator: Client, settings: Any
) -> None:
    settings.ROOT_URLCONF = "cloudpbx.urls"
    first = make_phone()
    second = same_mac(first)
    pks = [device_of(first).pk, device_of(second).pk]
    answer = operator.post(ADMIN, {"action": "bind_mac", "_selected_action": pks}, follow=True)
    assert "Select one device per MAC address" in answer.content.decode()
    assert not ProvisioningDevice.objects.filter(bound_at__isnull=False).exists()


def test_staff_who_are_not_the_operator_cannot_bind(make_phone: Any, settings: Any) -> None:
    from django.contrib.auth.models import Permission

    settings.ROOT_URLCONF = "cloudpbx.urls"
    first = make_phone()
    same_mac(first)
    staff = User.objects.create_user("staff", password="correct-horse-battery-9", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_provisioningdevice"))
    client = Client()
    client.force_login(staff)
    client.post(ADMIN, {"action": "bind_mac", "_selected_action": [device_of(first).pk]})
    assert not ProvisioningDevice.objects.filter(bound_at__isnull=False).exists()


# --- migration ---------------------------------------------------------------------------------


def test_the_migration_binds_devices_that_fetched_before(make_phone: Any) -> None:
    fetched, never = make_phone(), make_phone(auth_mode="trusted_ip", networks=("10.0.0.0/16",))
    ProvisioningDevice.objects.filter(terminal=fetched).update(last_fetch_at=timezone.now())
    migration = importlib.import_module("cloudpbx.provisioning.migrations.0006_mac_claims")
    migration.tenants_and_earlier_fetches(apps, None)
    assert device_of(fetched).bound_by == ProvisioningDevice.Binding.CREDENTIALS
    assert device_of(fetched).bound_at == device_of(fetched).last_fetch_at
    assert device_of(never).bound_at is None
    assert device_of(never).tenant_id == never.tenant_id
