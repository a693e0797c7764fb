import pytest
from django.core.exceptions import ValidationError

from cloudpbx.tenancy.services import create_tenant


def test_country_sets_language_and_time_zone_defaults(db):
    french = create_tenant(name="Exemple", country="FR")
    assert (french.language, french.timezone) == ("fr", "Europe/Paris")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "X", "country": "US"}, "country"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "language": "it"}, "language"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_tenant_settings(db, values, field):
    with pytest.raises(ValidationError) as caught:
        create_tenant(**values)
    assert field in caught.value.message_dict


def test_names_are_unique(db):
    create_tenant(name="Same")
    with pytest.raises(ValidationError) as caught:
        create_tenant(name="Same")
    assert "name" in caught.value.message_dict
