import pytest
from django.core.exceptions import ValidationError

from cloudpbx.core import credentials, crypto


def test_encrypt_round_trip_and_ciphertext_hides_the_secret():
    token = crypto.encrypt("s3cret-Value")
    assert "s3cret" not in token
    assert crypto.decrypt(token) == "s3cret-Value"
    assert crypto.encrypt("s3cret-Value") != token  # fresh IV every time


def test_old_values_stay_readable_after_server_key_rotation(settings):
    token = crypto.encrypt("rotate-me")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-server-key-" + "x" * 30
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert crypto.decrypt(token) == "rotate-me"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(token)


def test_generated_password_is_long_and_from_the_safe_alphabet():
    passwords = {credentials.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 20
        assert set(password) <= set(credentials.PASSWORD_ALPHABET)
        assert not set(password) & set("0O1lI")


def test_ha1_matches_rfc_2617_example():
    # RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life
    assert (
        credentials.ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life")
        == "939e7578ed9e3c518a452acee763bce9"
    )
    assert len(credentials.ha1_sha256("u", "r", "p")) == 64


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short1!", "password_length"),
        ("alllowercaseletters", "password_too_simple"),
        ("Has space 123456", "password_characters"),
        ("quote'Abc123456", "password_characters"),
        ("xtuser42Abcdefgh", "password_user"),
        ("Password1234", "password_too_common"),
    ],
)
def test_chosen_password_strength(password, code):
    with pytest.raises(ValidationError) as caught:
        credentials.validate_chosen_password(password, username="xtuser42")
    assert code in {error.code for error in caught.value.error_list}


def test_strong_chosen_password_passes():
    credentials.validate_chosen_password("Tr4m-Gleis-Nord-7", username="t123")
