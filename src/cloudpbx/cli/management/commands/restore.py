"""``cloudpbx restore FILE``: a backup into this node's empty data dir and database; then
``cloudpbx run`` migrates it to this version and serves it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cloudpbx import backup
from cloudpbx.cli.management.commands.backup import passphrase_argument, read_passphrase


class Command(BaseCommand):
    help = "Restore a backup (cloudpbx backup) into an empty data dir and database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="the archive to restore")
        passphrase_argument(parser)
        parser.add_argument(
            "--print-keys",
            action="store_true",
            help="only print the backup's server key and fallbacks (to set them in production)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            contents = backup.read(options["file"], read_passphrase(options["passphrase_file"]))
            if options["print_keys"]:
                self.stdout.write(json.dumps(contents.keys, indent=1))
                return
            notes = backup.restore(
                settings.CONFIG,
                contents,
                key_from_environment=bool(os.environ.get("CLOUDPBX_SECRET_KEY")),
            )
        except (backup.BackupError, OSError) as error:
            raise CommandError(str(error)) from error
        for note in notes:
            self.stderr.write(f"note: {note}")
        manifest = contents.manifest
        self.stdout.write(
            f"Restored the backup of {manifest['created_at']} (cloudpbx {manifest['version']}, "
            f"{manifest['database']}) into {settings.CONFIG.data_dir}: start it with cloudpbx run."
        )
