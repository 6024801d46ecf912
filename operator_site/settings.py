"""Settings for the Operator: one file, configured from the environment.

Every value has a dev-safe default so that checkout → migrate → runserver works with nothing set:
SQLite and Celery's filesystem transport under var/, a SECRET_KEY and a secrets key generated into
var/ (mode 0600) on first use. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# pytest (≥ 8.2) sets PYTEST_VERSION, also for the worker processes tests start: a test run gets
# its own var/test/ (broker folder, cache, SQLite test database) and never touches `make run`'s.
_default_var = BASE_DIR / "var" / ("test" if os.environ.get("PYTEST_VERSION") else "")
VAR_DIR = Path(os.environ.get("OPERATOR_VAR_DIR", _default_var))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def envstr(name: str, default: str = "") -> str:
    """A string from NAME, or from the file named by NAME_FILE (docker/k8s secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {e}") from e
    return os.environ.get(name, default)


def envbool(name: str, default: str = "False") -> bool:
    value = envstr(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def envint(name: str, default: int) -> int:
    value = envstr(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def envsecret(name: str, path: Path, make) -> str:
    """NAME from the environment, else the content of `path`, created with make() (mode 0600)."""
    value = envstr(name)
    if value:
        return value
    if not path.exists():
        # O_EXCL: two processes starting together must not write different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


SECRET_KEY = envsecret("SECRET_KEY", VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys; the first one encrypts, all of them decrypt (MultiFernet).
OPERATOR_SECRETS_KEYS = [
    k.strip()
    for k in envsecret("OPERATOR_SECRETS_KEYS", VAR_DIR / "secrets.keys", _fernet_key).split(",")
    if k.strip()
]
DEBUG = envbool("DEBUG", "False")
ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
PORT = envint("PORT", 8000)
OPERATOR_VERSION = "0.1.0"
OPERATOR_WEBHOOK_ALLOW_PRIVATE = envbool("OPERATOR_WEBHOOK_ALLOW_PRIVATE", "False")
# Request timer: seconds between flushes of each web process's latency deltas (0 = no background
# thread; tests flush explicitly with observability.timing.flush()).
OPERATOR_PERF_FLUSH_SECONDS = envint(
    "OPERATOR_PERF_FLUSH_SECONDS", 0 if os.environ.get("PYTEST_VERSION") else 5
)
OPERATOR_BACKUP_DIR = Path(envstr("OPERATOR_BACKUP_DIR", str(VAR_DIR / "backups")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "observability",
    "settings_ui",
    "coordination",
    "chains",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "observability.timing.RequestTimerMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "observability.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "operator_site.urls"
WSGI_APPLICATION = "operator_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'operator.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one of them writes;
    # the busy timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not :memory:, so that a real Celery worker process started by a test sees the data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Celery's filesystem transport: one machine needs no broker server.
    _broker = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "out"),
        "data_folder_out": str(_broker / "out"),
        "processed_folder": str(_broker / "processed"),
        "store_processed": False,
        # Exchange tables; kombu's default is ./control in the working directory.
        "control_folder": str(_broker / "control"),
    }
    # The database cache is shared by every process on the machine, unlike LocMem.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message to be redelivered
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "False")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Chain runner (chains/runner.py): a runner silent this long is presumed dead and its chain resumed.
CHAIN_RUNNER_STALE_SECONDS = envint("CHAIN_RUNNER_STALE_SECONDS", 60)
CHAIN_SESSION_TIMEOUT_SECONDS = envint("CHAIN_SESSION_TIMEOUT_SECONDS", 0)  # 0 = no limit
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Apps add their periodic jobs here (see each app's tasks.py); beat syncs them into the database.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "observability-heartbeat": {"task": "observability.tasks.heartbeat", "schedule": 30.0},
    "observability-rollup-latency": {"task": "observability.tasks.rollup_latency", "schedule": 600.0},
    "chains-sweep-runners": {"task": "chains.tasks.sweep_chain_runners", "schedule": 30.0},
    "coordination-tick": {"task": "coordination.tasks.tick", "schedule": 10.0},
    "settings_ui-backups": {"task": "settings_ui.tasks.backup_beat", "schedule": 300.0},
    "settings_ui-retention": {"task": "settings_ui.tasks.retention_beat", "schedule": 3600.0},
    "settings-ui-deliver-due-webhooks": {"task": "settings_ui.tasks.deliver_due_webhooks", "schedule": 10.0},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic

# Security headers on every response.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

REST_FRAMEWORK = {
    # Bearer first: its WWW-Authenticate header is what turns anonymous calls into 401s.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "settings_ui.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["operator_site.lib.api.IsStaff"],
    "DEFAULT_PAGINATION_CLASS": "operator_site.lib.api.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "operator_site.lib.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Operator API",
    "DESCRIPTION": "Staff API of the Operator console. Authenticate with a session or "
    "`Authorization: Bearer <token>` (manage.py create_api_token USER).",
    "VERSION": OPERATOR_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["operator_site.lib.api.IsStaff"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
