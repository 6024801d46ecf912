"""Settings for bench_request_timer's child process: the site's settings plus the two middlewares
it is compared against (django-silk, django-prometheus; bench extras) and a one-view URLconf."""

from __future__ import annotations

from operator_site.settings import *  # noqa: F403
from operator_site.settings import INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "silk", "django_prometheus"]
ROOT_URLCONF = "bench.request_timer_urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "bench_request_timer.sqlite3"),
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
}
SILKY_PYTHON_PROFILER = False
SILKY_META = False
DEBUG = False
