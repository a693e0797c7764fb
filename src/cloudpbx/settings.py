"""Django settings. Values come from :mod:`cloudpbx.config`; nothing here reads the environment."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from cloudpbx import config, logs

CONFIG = config.load()
BASE_DIR = Path(__file__).resolve().parent

DEBUG = False
SECRET_KEY = CONFIG.secret_key
SECRET_KEY_FALLBACKS = CONFIG.secret_key_fallbacks
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",
    "cloudpbx.core",
    "cloudpbx.tenancy",
    "cloudpbx.accounts",
    "cloudpbx.numbering",
    "cloudpbx.extensions",
    "cloudpbx.terminals",
    "cloudpbx.trunks",
    "cloudpbx.provisioning",
    "cloudpbx.sip",
    "cloudpbx.web",
    "cloudpbx.cli",
]

MIDDLEWARE = [
    "cloudpbx.middleware.ClientAddressMiddleware",  # first: everything after reads its answer
    "cloudpbx.middleware.RequestIdMiddleware",
    "cloudpbx.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cloudpbx.urls"
WSGI_APPLICATION = "cloudpbx.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cloudpbx.web.context_processors.portal",
            ],
        },
    },
]

# Persistent connections: opening SQLite per request cost ~4.5 ms of a 6 ms provisioning fetch.
DATABASES = {
    "default": dj_database_url.parse(CONFIG.database_url, conn_max_age=600, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that Kamailio's router can read the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(CONFIG.data_dir / "test.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the SIP router read while the portal writes; IMMEDIATE avoids
        # "database is locked" on lock upgrades under concurrent writers.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling: lock a username and an address after repeated failures.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The client's address behind a trusted proxy is REMOTE_ADDR already (cloudpbx.middleware).
AXES_LOCKOUT_TEMPLATE = "web/lockout.html"

# Portal sign-in (cloudpbx.web).
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:pbx"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.data_dir / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Cookies only over HTTPS whenever the portal is served over it (direct TLS or a proxy).
SESSION_COOKIE_SECURE = CONFIG.public_web_url.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Whether a request is secure is decided in cloudpbx.middleware (X-Forwarded-Proto only from a
# trusted proxy), not with SECURE_PROXY_SSL_HEADER, which would believe any client.
# HSTS only with the operator's certificate: browsers do not trust the embedded CA's, and
# HSTS would take away the click-through.
if CONFIG.production:
    SECURE_HSTS_SECONDS = 31536000

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Domain settings used by services (realm for HA1, what phones and apps are told).
CLOUDPBX_SIP_DOMAIN = CONFIG.sip_domain
CLOUDPBX_SIP_REALM = CONFIG.sip_realm
CLOUDPBX_SIP_PORT = CONFIG.phone_port  # what phones are told (the TLS port over TLS)
CLOUDPBX_SIP_TRANSPORT = CONFIG.sip_transport
CLOUDPBX_PUBLIC_URL = CONFIG.public_web_url
CLOUDPBX_KAMAILIO_RPC_URLS = CONFIG.kamailio_rpc_urls
CLOUDPBX_KAMAILIO_RPC_TOKEN = config.kamailio_rpc_token(CONFIG.secret_key)

LOGGING = logs.configuration(CONFIG.log_format)
