"""The ``cloudpbx`` command: Django's management commands plus ours (run, demo, …)."""

import os
import sys


def main() -> None:
    # Whatever the PBX and its children create (the SQLite database and its journal, usrloc,
    # keys, generated configs) is readable by its owner only.
    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpbx.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["cloudpbx", *sys.argv[1:]])


if __name__ == "__main__":
    main()
