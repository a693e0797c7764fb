"""Secrets at rest: SIP and ACS passwords are encrypted with a key derived from the server key.

The Fernet keys are derived (HKDF-SHA256) from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, so
rotating the server key the Django way (old key moved to the fallbacks) keeps old values readable.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"cloudpbx secrets at rest v1"


def _derive(server_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        server_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derive(key) for key in keys])


def _current() -> MultiFernet:
    return _fernet((settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Return the plaintext; raises ``ValueError`` when no known key opens the token."""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured server keys") from exc
