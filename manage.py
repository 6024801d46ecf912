#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "operator_site.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError:
        sys.exit(
            "Django is not installed in this Python. Run `make run` (it creates .venv and "
            "installs everything), or use .venv/bin/python manage.py …"
        )
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
