"""French and German are complete: no message of the code lacks a translation.

Two checks: the catalogues as committed (no empty or fuzzy entry, placeholders kept), and the
catalogues as ``makemessages`` would write them from the code now, so a new string in a view or
template that nobody translated fails here rather than showing up in English.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

import cloudpbx

SOURCE = Path(cloudpbx.__file__).resolve().parent
LANGUAGES = ("fr", "de")
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w*)\}")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgstrs: list[str] = field(default_factory=list)
    fuzzy: bool = False


def _unquote(line: str) -> str:
    quoted = line[line.index('"') + 1 : line.rindex('"')]
    # Undo the C escapes (\n, \", \\) and keep every other character as it is.
    return quoted.encode("raw_unicode_escape").decode("unicode_escape")


def parse_po(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete ``#~`` entries skipped)."""
    entries: list[Entry] = []
    current = Entry()
    target: str | None = None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if target is not None:
                entries.append(current)
            current, target = Entry(), None
        elif line.startswith("#,") and "fuzzy" in line:
            current.fuzzy = True
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt"):
            target = "ctxt"
        elif line.startswith("msgid_plural"):
            target, current.msgid_plural = "plural", _unquote(line)
        elif line.startswith("msgid"):
            target, current.msgid = "msgid", _unquote(line)
        elif line.startswith("msgstr"):
            target = "msgstr"
            current.msgstrs.append(_unquote(line))
        elif line.startswith('"'):
            if target == "msgid":
                current.msgid += _unquote(line)
            elif target == "plural":
                current.msgid_plural += _unquote(line)
            elif target == "msgstr":
                current.msgstrs[-1] += _unquote(line)
    return [entry for entry in entries if entry.msgid]  # the header has an empty msgid


def problems(path: Path) -> list[str]:
    found = []
    for entry in parse_po(path):
        if entry.fuzzy:
            found.append(f"fuzzy: {entry.msgid!r}")
        elif not entry.msgstrs or any(not text for text in entry.msgstrs):
            found.append(f"untranslated: {entry.msgid!r}")
        else:
            wanted = set(_PLACEHOLDER.findall(entry.msgid + entry.msgid_plural))
            for text in entry.msgstrs:
                if set(_PLACEHOLDER.findall(text)) - wanted or (
                    not entry.msgid_plural and set(_PLACEHOLDER.findall(text)) != wanted
                ):
                    found.append(f"placeholders differ: {entry.msgid!r} -> {text!r}")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_catalogue_is_complete(language: str) -> None:
    assert problems(SOURCE / "locale" / language / "LC_MESSAGES" / "django.po") == []


def test_every_message_in_the_code_is_translated(
    tmp_path: Path, settings: Any, monkeypatch: Any
) -> None:
    """Extract the messages from a copy of the code, as the maintainers' command does."""
    copy = tmp_path / "cloudpbx"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command(
        "makemessages", locale=list(LANGUAGES), no_location=True, no_obsolete=True, verbosity=0
    )
    for language in LANGUAGES:
        catalogue = copy / "locale" / language / "LC_MESSAGES" / "django.po"
        assert problems(catalogue) == [], language
