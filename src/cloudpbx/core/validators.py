"""Field validators shared by the domain models."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Control and format characters, line and paragraph separators: CR/LF would start a new
# header line in a SIP message or a new line in a phone's config file; the others hide text
# (bidi overrides, zero-width characters) or break single-line formats.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def no_control_characters(value: str) -> None:
    """Refuse any character of Unicode category Cc, Cf, Zl or Zp (CR, LF, TAB, NUL, DEL,
    U+2028 …) in text that can end up in a SIP header or a phone configuration."""
    if any(unicodedata.category(character) in _REFUSED_CATEGORIES for character in value):
        raise ValidationError(
            _(
                "Use letters, digits, spaces and punctuation only; line breaks and control "
                "characters are not allowed."
            ),
            code="control_characters",
        )
