"""OrderHub settings: every deployment difference comes from the environment (see README)."""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from orderhub.env import env_bool, env_list, parse_database_url, parse_redis_url, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = secret_key(DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "orderhub.admin_site.OrderHubAdminConfig",  # django.contrib.admin with OrderHub's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "django_q",
    "import_export",
    "simple_history",
    "orderhub",
    "orders",
    "inventory",
    "rules",
    "shipping",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files under gunicorn, no separate web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "orderhub.urls"
WSGI_APPLICATION = "orderhub.wsgi.application"
ASGI_APPLICATION = "orderhub.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL"), BASE_DIR, conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0"))
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = parse_redis_url(os.environ.get("REDIS_URL"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2. Every external effect is an outbox row first (DESIGN.md), so a task lost by a dying
# worker costs a delay until the periodic sweep, never data. `retry` must exceed `timeout`.
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "orderhub"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "queue_limit": 200,
    "bulk": 10,
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "poll": 0.5,
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orderhub.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "OrderHub API",
    "DESCRIPTION": "Multi-channel order hub: channel webhooks, orders, warehouse scanners and stock movements.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Channel webhooks: bodies above this size are refused with 413 before parsing.
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_MAX_SKEW_SECONDS = 300
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Outbound platform calls.
CHANNEL_HTTP_TIMEOUT = float(os.environ.get("CHANNEL_HTTP_TIMEOUT", "10"))
CHANNEL_PULL_OVERLAP_MINUTES = int(os.environ.get("CHANNEL_PULL_OVERLAP_MINUTES", "5"))
CHANNEL_PULL_PAGE_SIZE = int(os.environ.get("CHANNEL_PULL_PAGE_SIZE", "50"))
CHANNEL_ALERT_AFTER_FAILURES = int(os.environ.get("CHANNEL_ALERT_AFTER_FAILURES", "3"))

# Printing (shipping): the platforms' local print components run on each packing PC and listen on
# localhost (shared/channels/shipping.md §2); PRINT_COMPONENT_URL_<NAME> moves one (another port, wss).
PRINT_COMPONENT_URLS = {
    name: os.environ.get(f"PRINT_COMPONENT_URL_{name.upper()}", default)
    for name, default in {
        "cainiao": "ws://localhost:13528",
        "pdd": "ws://127.0.0.1:5000",
        "jd": "ws://localhost:9113",
        "douyin": "ws://localhost:13888",
        "kuaishou": "ws://localhost:16888/ks/printer",
    }.items()
}
# Labels per print batch: a packer prints one batch in one go.
PRINT_BATCH_MAX_PARCELS = int(os.environ.get("PRINT_BATCH_MAX_PARCELS", "100"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
