"""The ``cloudpbx`` command: Django's management commands plus ours (run, demo, …)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpbx.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["cloudpbx", *sys.argv[1:]])


if __name__ == "__main__":
    main()
