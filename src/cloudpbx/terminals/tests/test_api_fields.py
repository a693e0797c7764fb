"""The API's table of terminal settings (``api/terminal_fields.py``) against the service and the
OpenAPI document: every setting the service takes has a place in the body, every place is a
key of the schemas, the service's error for each setting comes back at that place, and a
plain setting is set and shown there with nothing but its entry."""

import inspect

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from cloudpbx.api import api as rest_api
from cloudpbx.api.terminal_fields import GROUPS, PLACES
from cloudpbx.terminals import services
from cloudpbx.terminals.models import Terminal
from cloudpbx.testing import errors_at

URL = "/api/v1/terminals/"

# What create_terminal/update_terminal take that is no setting of the table, and why.
NOT_SETTINGS = {
    "tenant": "the token's customer",
    "terminal": "the terminal of the URL",
    "base": "a terminal id the view looks up itself: another customer's is a 404",
    "generate_credentials": "an instruction, not a setting: its default differs on create",
}
# The service's errors about the phone are keyed device.<column> of the columns its
# DeviceSettings fill (mac_id is stored as mac_id_crc).
DEVICE_COLUMNS = ["manufacturer", "model", "mac", "auth_mode", "trusted_networks", "mac_id_crc"]
ERROR_KEYS = sorted(
    {*services.EDITABLE_FIELDS, "ringing_extensions", "device", "base"}
    | {f"device.{column}" for column in DEVICE_COLUMNS}
)


def _schemas():
    return rest_api.get_openapi_schema()["components"]["schemas"]


def _component(schemas, prop):
    """The schema a property refers to (``X`` or ``X | null``), or None for a plain value."""
    for option in [prop, *prop.get("anyOf", [])]:
        if "$ref" in option:
            return schemas[option["$ref"].rsplit("/", 1)[-1]]
    return None


def _group_keys(schemas, owner, group):
    return list(_component(schemas, schemas[owner]["properties"][group])["properties"])


def _is_a_body_path(schemas, path):
    schema = schemas["TerminalIn"]
    for step in path:
        if schema is None or step not in schema.get("properties", {}):
            return False
        schema = _component(schemas, schema["properties"][step])
    return True


def test_every_service_setting_has_a_place_and_every_place_is_one():
    takes = set(services.EDITABLE_FIELDS)
    for function in (services.create_terminal, services.update_terminal):
        parameters = inspect.signature(function).parameters.values()
        takes |= {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}
    writable = {name for name, place in PLACES.items() if not place.read_only}
    assert services.EDITABLE_FIELDS <= writable
    assert takes - writable == set(NOT_SETTINGS)
    assert writable <= takes
    for name, place in PLACES.items():
        if place.read_only:
            assert hasattr(Terminal, name), name


def test_every_place_is_a_key_of_the_schemas():
    schemas = _schemas()
    for name, place in PLACES.items():
        if place.group is None:
            for owner in ("TerminalIn", "TerminalPatch"):
                assert place.key in schemas[owner]["properties"], (owner, name)
            continue
        keys_in = _group_keys(schemas, "TerminalIn", place.group)
        assert _group_keys(schemas, "TerminalPatch", place.group) == keys_in
        if not place.read_only and place.key is not None:
            assert place.key in keys_in, name
        for key in place.parts.values():
            assert key in keys_in, (name, key)
        if place.group in GROUPS:
            assert place.key in _group_keys(schemas, "TerminalOut", place.group), name
    for group in GROUPS:
        places = [place for place in PLACES.values() if place.group == group]
        writable = [place.key for place in places if not place.read_only]
        assert _group_keys(schemas, "TerminalIn", group) == writable, group
        assert _group_keys(schemas, "TerminalOut", group) == [place.key for place in places]


@pytest.mark.parametrize("key", ERROR_KEYS)
def test_the_services_error_for_each_setting_comes_back_at_its_place(api, monkeypatch, key):
    created = api.post(URL, {"name": "Desk", "type": "app"}).json_body

    def refuse(*args, **kwargs):
        raise ValidationError({key: ["Refused."]})

    monkeypatch.setattr(services, "create_terminal", refuse)
    monkeypatch.setattr(services, "update_terminal", refuse)
    name, _dot, part = key.partition(".")
    place = PLACES.get(name)
    if place is None:  # not a setting (base): at the top-level key of its name
        expected = [key]
    else:
        expected = [step for step in (place.group, place.key) if step is not None]
        if part:
            expected.append(place.parts[part])
    for response in (
        api.post(URL, {"name": "Other", "type": "app"}),
        api.patch(f"{URL}{created['id']}", {"name": "Other"}),
    ):
        assert errors_at(response) == {".".join(expected): ["Refused."]}
        assert _is_a_body_path(_schemas(), expected), expected


def _another_value(name, current):
    column = Terminal._meta.get_field(name)
    if isinstance(column, models.BooleanField):
        return not current
    if column.choices:
        return next(value for value, _label in column.flatchoices if value != current)
    return f"{current} changed".strip()


PLAIN = [
    name
    for name, place in PLACES.items()
    if place.group in GROUPS
    and not place.read_only
    and place.read is place.show is place.accepts is place.shows is None
]


def test_the_plain_settings_are_found():
    assert {"external_calls_enabled", "internal_display_name", "caller_id_mode"} <= set(PLAIN)


@pytest.mark.parametrize("name", PLAIN)
def test_each_plain_setting_is_set_and_shown_at_its_place(api, name):
    place = PLACES[name]
    created = api.post(URL, {"name": "Desk", "type": "app"}).json_body
    value = _another_value(name, created[place.group][place.key])
    response = api.patch(f"{URL}{created['id']}", {place.group: {place.key: value}})
    assert response.status_code == 200, response.json_body
    assert response.json_body[place.group][place.key] == value
    assert getattr(Terminal.objects.get(pk=created["id"]), name) == value
