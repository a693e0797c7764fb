"""Text that reaches SIP headers and phone configs refuses line breaks and control characters."""

from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from cloudpbx.core.validators import no_control_characters

MESSAGE = (
    "Use letters, digits, spaces and punctuation only; line breaks and control characters are "
    "not allowed."
)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    "text",
    [
        "Boss\r\nP-Asserted-Identity: <sip:+4990012345678@x>",  # header injection
        "Boss\n",
        "Boss\r",
        "Tab\there",
        "Nul\x00",
        "Del\x7f",
        "Next line\x85",  # NEL, a C1 control
        "Line\u2028separator",  # Zl
        "Paragraph\u2029separator",  # Zp
        "Right-to-left \u202eoverride",  # Cf: hides what the text says
        "Zero\u200bwidth",  # Cf
        "\ufeffByte order mark",  # Cf
    ],
)
def test_control_and_format_characters_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        no_control_characters(text)
    assert caught.value.code == "control_characters"
    assert caught.value.messages == [MESSAGE]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Reception",
        "Müller & Söhne",
        "Empfang (2. OG), Tür 3",
        "José's phone",
        "北京办公室",
        "☎ 10",
    ],
)
def test_printable_text_passes(text: str) -> None:
    no_control_characters(text)


def test_message_is_translated() -> None:
    with translation.override("fr"), pytest.raises(ValidationError) as caught:
        no_control_characters("a\nb")
    with translation.override("fr"):
        assert caught.value.messages[0].startswith("Utilisez uniquement des lettres")
