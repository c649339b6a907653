"""OrderHub settings: every deployment difference comes from the environment (see README)."""

from __future__ import annotations

import os
from datetime import timedelta
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
    "orderhub.admin_site.LoginProtectionConfig",  # django-axes (login lockout), named for ops staff
    "orderhub",
    "orders",
    "inventory",
    "rules",
    "shipping",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "orderhub.middleware.OutageAnswerMiddleware",  # database/Redis down: 503 + Retry-After, not an HTML 500
    "orders.api.webhook.WebhookFastLaneMiddleware",  # a signed push stored and answered here (docs/channels.md)
    "orderhub.middleware.ApiAuthFailureThrottleMiddleware",  # repeated 401s from one client: 429
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files under gunicorn, no separate web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
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
        os.environ.get("DATABASE_URL"),
        BASE_DIR,
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---- HTTPS and proxies (check --deploy): secure by default when DEBUG is off --------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# A TLS-terminating proxy says the original scheme in X-Forwarded-Proto; trust it only when set.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

REDIS_URL = parse_redis_url(os.environ.get("REDIS_URL"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-axes: admin logins. Attempts live in Redis when there is one (shared by every web process),
# otherwise in the database (the in-process cache would count per process).
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
# Either the account or the client address is locked: one address cannot try many accounts, many
# addresses cannot try one account.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_LOCKOUT_CALLABLE = "orderhub.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "orderhub.throttling.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no "AXES: BEGIN" banner on every manage.py command; lockouts are still logged

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

AUTHENTICATION_BACKENDS = [
    # first: django-axes refuses a locked-out login before the password is checked
    "orderhub.auth_backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

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
FORMAT_MODULE_PATH = ["orderhub.formats"]  # one date format in both languages (orderhub/formats/)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its `WWW-Authenticate: Token` header turns a missing credential into 401, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # read needs view_<model>, each write the permission its view names; closed by default
    "DEFAULT_PERMISSION_CLASSES": ["orderhub.permissions.ModelActionPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orderhub.api.exception_handler",
    # Anonymous callers of public endpoints are slowed; authenticated clients (WMS, scanners) are not.
    # Failed credentials are counted per client by ApiAuthFailureThrottleMiddleware (scope auth_failure).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON_RATE", "120/min"),
        "auth_failure": os.environ.get("THROTTLE_AUTH_FAILURE_RATE", "20/min"),
        "webhook_failure_ip": os.environ.get("THROTTLE_WEBHOOK_FAILURE_IP_RATE", "20/min"),
        "webhook_failure_channel": os.environ.get("THROTTLE_WEBHOOK_FAILURE_CHANNEL_RATE", "60/min"),
    },
    # Proxies in front of the app that append to X-Forwarded-For; 0 = use the socket's address
    # (a client could otherwise pick its own address and escape every per-client limit).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "OrderHub API",
    "DESCRIPTION": "Multi-channel order hub: channel webhooks, orders, warehouse scanners and stock movements.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orderhub.api_schema.add_error_responses",  # 400/401/403/404/429/503 on every operation
    ],
}

# Channel webhooks: bodies above this size are refused with 413 before parsing.
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_MAX_SKEW_SECONDS = 300
# The webhook inbox (docs/channels.md): a verified, validated signed order push is stored and answered
# at once; drainers (`manage.py drain_inbox`) decide it in batches. Off: decided within the request.
WEBHOOK_INBOX = env_bool("WEBHOOK_INBOX", True)
WEBHOOK_INBOX_BATCH = int(os.environ.get("WEBHOOK_INBOX_BATCH", "100"))
WEBHOOK_INBOX_LEASE_SECONDS = int(os.environ.get("WEBHOOK_INBOX_LEASE_SECONDS", "60"))  # a dead drainer's claim
WEBHOOK_INBOX_POLL_SECONDS = float(os.environ.get("WEBHOOK_INBOX_POLL_SECONDS", "0.2"))  # SQLite; PostgreSQL: 1 s
WEBHOOK_INBOX_LINGER_SECONDS = float(os.environ.get("WEBHOOK_INBOX_LINGER_SECONDS", "0.05"))
WEBHOOK_INBOX_MAX_ATTEMPTS = 5  # claims before a message that kept killing its drainer is quarantined
# a message that met a deadlock or lock timeout is claimed again after this long
WEBHOOK_INBOX_RETRY_SECONDS = float(os.environ.get("WEBHOOK_INBOX_RETRY_SECONDS", "2"))
WEBHOOK_INBOX_ALERT_AFTER_SECONDS = int(os.environ.get("WEBHOOK_INBOX_ALERT_AFTER_SECONDS", "60"))
WEBHOOK_INBOX_KEEP_DAYS = 7  # decided messages are kept this long (ops can see what came in), then purged
# Decider processes (inbox drainers) commit their decisions without waiting for PostgreSQL's WAL flush
# (`synchronous_commit = off` on their connections), so a hot SKU's stock row is held for the
# conditional UPDATE alone, not for a disk flush (docs/ingestion.md "Durability of decisions"). Safe
# because the accepted push is already durable in the inbox: a decision lost in a server crash leaves
# its message undecided, and it is decided again. Set 0 to flush every decision.
INGEST_ASYNC_COMMIT = env_bool("INGEST_ASYNC_COMMIT", True)
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

# Delivery tracking (shipping/tracking/, docs/shipping.md "Tracking"): every shipped parcel is
# subscribed with TRACKING_BACKEND, which pushes movements to TRACKING_CALLBACK_BASE_URL +
# /api/v1/tracking/<backend>/callback. Without credentials nothing is sent (rows wait) and every
# callback is refused. `make demo` points both services at the local emulator.
TRACKING_BACKEND = os.environ.get("TRACKING_BACKEND", "kuaidi100")
TRACKING_CALLBACK_BASE_URL = os.environ.get("TRACKING_CALLBACK_BASE_URL", "http://127.0.0.1:8000")
TRACKING_SERVICES = {
    "kuaidi100": {
        "customer": os.environ.get("KUAIDI100_CUSTOMER", ""),
        "key": os.environ.get("KUAIDI100_KEY", ""),
        "salt": os.environ.get("KUAIDI100_SALT", ""),
        "query_url": os.environ.get("KUAIDI100_QUERY_URL", "https://poll.kuaidi100.com/poll/query.do"),
        "subscribe_url": os.environ.get("KUAIDI100_SUBSCRIBE_URL", "https://poll.kuaidi100.com/poll"),
    },
    "kuaidiniao": {
        "ebusiness_id": os.environ.get("KUAIDINIAO_EBUSINESS_ID", ""),
        "app_key": os.environ.get("KUAIDINIAO_APP_KEY", ""),
        "url": os.environ.get("KUAIDINIAO_URL", "https://api.kdniao.com/Ebusiness/EbusinessOrderHandle.aspx"),
    },
}
# A shipped parcel without any movement this long after the scan raises "no pickup" on its orders.
TRACKING_NO_PICKUP_HOURS = float(os.environ.get("TRACKING_NO_PICKUP_HOURS", "24"))
# Polling fallback: parcels not delivered whose last update is older than this are queried.
TRACKING_POLL_AFTER_HOURS = float(os.environ.get("TRACKING_POLL_AFTER_HOURS", "12"))
TRACKING_POLL_BATCH = int(os.environ.get("TRACKING_POLL_BATCH", "200"))
# Subscribe attempts before a row is failed (with an alert); retries back off exponentially.
TRACKING_SUBSCRIBE_MAX_ATTEMPTS = int(os.environ.get("TRACKING_SUBSCRIBE_MAX_ATTEMPTS", "8"))

# Write-back (shipping): a failed retryable call waits base × 2^(n−1) seconds (capped, with jitter:
# between half and all of it); after WRITEBACK_MAX_ATTEMPTS failures the row is a dead letter and
# an alert is raised. A drain leases its rows for WRITEBACK_LEASE_SECONDS (longer than the calls
# of one order take); a lease a dead worker left runs out and the sweep picks the row up again.
WRITEBACK_BACKOFF_BASE_SECONDS = float(os.environ.get("WRITEBACK_BACKOFF_BASE_SECONDS", "30"))
WRITEBACK_BACKOFF_CAP_SECONDS = float(os.environ.get("WRITEBACK_BACKOFF_CAP_SECONDS", "3600"))
WRITEBACK_MAX_ATTEMPTS = int(os.environ.get("WRITEBACK_MAX_ATTEMPTS", "8"))
WRITEBACK_LEASE_SECONDS = float(os.environ.get("WRITEBACK_LEASE_SECONDS", "120"))
WRITEBACK_BATCH_SIZE = int(os.environ.get("WRITEBACK_BATCH_SIZE", "50"))

# Buyer notices (docs/shipping.md "Buyer notices"): one backend per medium. `database` (the default)
# records the rendered text and sends nothing; the SMS vendors' SDKs are optional (requirements-sms.txt).
NOTICE_SMS_BACKEND = os.environ.get("NOTICE_SMS_BACKEND", "database")  # database | aliyun | tencent | generic
NOTICE_WECHAT_BACKEND = os.environ.get("NOTICE_WECHAT_BACKEND", "database")  # database | wechat
NOTICE_MEDIUMS = env_list("NOTICE_MEDIUMS", ["sms"])  # tried in this order: sms, wechat
NOTICE_HTTP_TIMEOUT = float(os.environ.get("NOTICE_HTTP_TIMEOUT", "10"))
NOTICE_MAX_ATTEMPTS = int(os.environ.get("NOTICE_MAX_ATTEMPTS", "6"))
NOTICE_MAX_LOOKUPS = int(os.environ.get("NOTICE_MAX_LOOKUPS", "5"))
NOTICE_LOOKUP_DELAY_SECONDS = int(os.environ.get("NOTICE_LOOKUP_DELAY_SECONDS", "60"))
NOTICE_ENQUEUE_TASKS = env_bool("NOTICE_ENQUEUE_TASKS", True)
# The ship-by clock sends a `delayed` notice only for orders that became late within this many days
# (a first run on an old database does not message every buyer of years past).
NOTICE_DELAYED_LOOKBACK_DAYS = int(os.environ.get("NOTICE_DELAYED_LOOKBACK_DAYS", "3"))
ALIYUN_SMS = {
    "access_key_id": os.environ.get("ALIYUN_SMS_ACCESS_KEY_ID", ""),
    "access_key_secret": os.environ.get("ALIYUN_SMS_ACCESS_KEY_SECRET", ""),
    "sign_name": os.environ.get("ALIYUN_SMS_SIGN_NAME", ""),
    "endpoint": os.environ.get("ALIYUN_SMS_ENDPOINT", "dysmsapi.aliyuncs.com"),
    "protocol": os.environ.get("ALIYUN_SMS_PROTOCOL", "https"),
}
TENCENT_SMS = {
    "secret_id": os.environ.get("TENCENT_SMS_SECRET_ID", ""),
    "secret_key": os.environ.get("TENCENT_SMS_SECRET_KEY", ""),
    "sdk_app_id": os.environ.get("TENCENT_SMS_SDK_APP_ID", ""),
    "sign_name": os.environ.get("TENCENT_SMS_SIGN_NAME", ""),
    "region": os.environ.get("TENCENT_SMS_REGION", "ap-guangzhou"),
    "endpoint": os.environ.get("TENCENT_SMS_ENDPOINT", "sms.tencentcloudapi.com"),
    "protocol": os.environ.get("TENCENT_SMS_PROTOCOL", "https"),
}
WECHAT_SUBSCRIBE = {
    "app_id": os.environ.get("WECHAT_APP_ID", ""),
    "app_secret": os.environ.get("WECHAT_APP_SECRET", ""),
    "api_base": os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com"),
    "page": os.environ.get("WECHAT_SUBSCRIBE_PAGE", ""),
    "miniprogram_state": os.environ.get("WECHAT_MINIPROGRAM_STATE", "formal"),
    "lang": os.environ.get("WECHAT_LANG", "zh_CN"),
}
NOTICE_GATEWAY = {
    "url": os.environ.get("NOTICE_GATEWAY_URL", ""),
    "secret": os.environ.get("NOTICE_GATEWAY_SECRET", ""),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Covering indexes (`include=`) speed PostgreSQL's dashboard, search and workflow reads; SQLite has no
# such indexes and Django builds a plain one there instead, which is what the embedded default needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
