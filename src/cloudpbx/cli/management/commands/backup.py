"""``cloudpbx backup FILE``: everything this node needs to come back, in one archive (0600),
while the PBX runs. See :mod:`cloudpbx.backup` and docs/operator-guide.md ("Backup")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cloudpbx import backup


def passphrase_argument(parser: Any) -> None:
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        help="encrypt (decrypt) with the passphrase in the first line of this file",
    )


def read_passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise CommandError(f"cannot read the passphrase: {error}") from error
    if not lines or not lines[0].strip():
        raise CommandError(f"{path} holds no passphrase")
    return lines[0].strip()


class Command(BaseCommand):
    help = "Back up the database, registrations, job queue, server keys and certificates."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="the archive to write (must not exist)")
        passphrase_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        target: Path = options["file"]
        if target.exists():
            raise CommandError(f"{target} exists: choose a new file name")
        try:
            backup.write(settings.CONFIG, target, read_passphrase(options["passphrase_file"]))
        except backup.BackupError as error:
            raise CommandError(str(error)) from error
        encrypted = " (encrypted)" if options["passphrase_file"] else ""
        self.stdout.write(
            f"Backup written to {target}{encrypted}: keep it safe, it holds the server key."
        )
