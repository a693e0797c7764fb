"""Generated secrets, digest HA1 values and the strength rule for chosen passwords."""

from __future__ import annotations

import hashlib
import secrets
import string

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# No look-alikes (0/O, 1/l/I): passwords are read off a screen and typed into phone keypads.
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
USERNAME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GENERATED_PASSWORD_LENGTH = 24  # 57^24 ≈ 2^140
MIN_CHOSEN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 64
# Characters that survive every vendor config format and the phones' web forms unescaped.
_CHOSEN_PASSWORD_CHARS = set(string.ascii_letters + string.digits + "!#$%()*+,-./:;=?@[]^_{|}~")


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def generate_username(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(USERNAME_ALPHABET) for _ in range(length))


def ha1_md5(username: str, realm: str, password: str) -> str:
    # RFC 2617/7616 HA1; MD5 is what the digest protocol prescribes, not a password hash.
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def ha1_sha256(username: str, realm: str, password: str) -> str:
    return hashlib.sha256(f"{username}:{realm}:{password}".encode()).hexdigest()


def validate_chosen_password(password: str, username: str = "") -> None:
    """Strength rule for a password a customer sets instead of a generated one.

    Raises ``ValidationError`` with every reason at once.
    """
    errors: list[ValidationError] = []
    if not MIN_CHOSEN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors.append(
            ValidationError(
                _("Use between %(min)d and %(max)d characters."),
                code="password_length",
                params={"min": MIN_CHOSEN_PASSWORD_LENGTH, "max": MAX_PASSWORD_LENGTH},
            )
        )
    if not set(password) <= _CHOSEN_PASSWORD_CHARS:
        errors.append(
            ValidationError(
                _(
                    "Use only letters, digits and these symbols: "
                    "! # $ % ( ) * + , - . / : ; = ? @ [ ] ^ _ { | } ~"
                ),
                code="password_characters",
            )
        )
    classes = sum(
        any(c in group for c in password)
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(c not in string.ascii_letters + string.digits for c in password)
    if classes < 3:
        errors.append(
            ValidationError(
                _("Mix at least three of: lower-case letters, capitals, digits, symbols."),
                code="password_too_simple",
            )
        )
    if username and username.lower() in password.lower():
        errors.append(
            ValidationError(_("The password must not contain the username."), code="password_user")
        )
    try:
        password_validation.validate_password(password)
    except ValidationError as error:
        errors.extend(error.error_list)
    if errors:
        raise ValidationError(errors)
