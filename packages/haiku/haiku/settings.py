"""Django settings, from the environment (table: :mod:`haiku.core.config`)."""

from __future__ import annotations

import os
from pathlib import Path

from haiku.core.config import database, from_environ
from haiku.core.web import django_settings
from haiku.files import read_or_create_secret

HAIKU = from_environ(os.environ)
BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = read_or_create_secret(Path(HAIKU.secrets_dir) / "secret_key")
DEBUG = HAIKU.debug
ALLOWED_HOSTS = list(HAIKU.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "haiku.apps.HaikuConfig",
]

# Sessions, users and messages as Django's, except for the URLs nodes fetch with their
# token (haiku/access.py): the security headers and the Host check stay on every answer.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "haiku.access.SessionsButNotForNodes",
    "django.middleware.common.CommonMiddleware",
    "haiku.access.AuthenticationButNotForNodes",
    # Before the CSRF check (process_view runs in this order): it exempts API calls that
    # authenticate with a bearer token, which no cross-site request can carry.
    "haiku.access.AccessMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "haiku.access.MessagesButNotForNodes",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "haiku.headers.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "haiku.urls"
WSGI_APPLICATION = "haiku.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if HAIKU.database_url.startswith("sqlite") or not HAIKU.database_url:
    Path(HAIKU.state_dir).mkdir(parents=True, exist_ok=True)
DATABASES = {"default": database(HAIKU.database_url, HAIKU.state_dir)}
# Each gunicorn thread keeps its connection between requests (a new one per request was
# most of a node configuration request's time, a PostgreSQL one costs a backend process):
# 3 workers x 8 threads, 24 connections at most. A connection that failed (the server
# restarted) is closed after the request it failed.
DATABASES["default"]["CONN_MAX_AGE"] = 600
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Wait for a writer instead of failing at once ("database is locked").
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "haiku.User"
AUTHENTICATION_BACKENDS = ["haiku.auth.HaikuBackend"]
# Argon2id (argon2-cffi; Debian: python3-argon2) first; the others only read old hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "node-list"
LOGOUT_REDIRECT_URL = "home"

# Cookies, HSTS, the proxy's X-Forwarded-Proto: behind the TLS proxy or on plain HTTP
# (HAIKU_TLS_PROXY; the table of names is in haiku/core/web.py).
globals().update(django_settings(HAIKU.tls_proxy, HAIKU.hsts_seconds))

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = HAIKU.smtp_host
EMAIL_PORT = HAIKU.smtp_port
EMAIL_HOST_USER = HAIKU.smtp_user
EMAIL_HOST_PASSWORD = HAIKU.smtp_password
EMAIL_USE_TLS = HAIKU.smtp_starttls
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = HAIKU.from_email

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Everything to stderr (the journal under systemd). django.request logs each unhandled
# exception (HTTP 500) with its traceback; Django's own default sends those only to the
# console with DEBUG on, and by mail to ADMINS (none) otherwise.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "haiku": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
