"""Settings for the clearing hub, read from the environment with safe local defaults.

Production uses ``hub.settings_production``, which refuses to start with the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Development defaults. hub.settings_production refuses to start while any of these is in use.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWNoYW5nZS1tZS0wMDE="  # Fernet key, dev only
DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key"
DEV_FINGERPRINT_KEY = "dev-only-request-fingerprint-key"
# Ed25519 seed of the sandbox's offline gate-ticket key "sbx1": base64url(SHA-256(b"clearing-hub sandbox
# gate ticket key sbx1")), derived from a public string, so for the sandbox only (rights.tickets).
DEV_GATE_TICKET_KEY = "sbx1:V84KmucnPTR56b6MyI4DvJzvE5vlkxQ2OdEo2c19bxk"

SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# Key ring for PII at rest: comma-separated Fernet keys, newest first. The newest encrypts,
# all of them decrypt; `manage.py reencrypt_pii` moves old rows to the newest key.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", DEV_FIELD_ENCRYPTION_KEY)
# Keyed HMAC for exact lookups of encrypted values (mobile, ID number). Changing it requires
# `manage.py reencrypt_pii --reindex`.
BLIND_INDEX_KEY = os.environ.get("BLIND_INDEX_KEY", DEV_BLIND_INDEX_KEY)
# Keyed HMAC over a till request's content (points_operation.fingerprint). See
# docs/operations.md ("FINGERPRINT_KEY") before changing it.
FINGERPRINT_KEY = os.environ.get("FINGERPRINT_KEY", DEV_FINGERPRINT_KEY)
# Business time a till may state: not later than the hub's clock plus this skew, not earlier
# than the store-and-forward window (how long a till may queue records while offline).
BUSINESS_TIME_SKEW_SECONDS = int(os.environ.get("BUSINESS_TIME_SKEW_SECONDS", "300"))
STORE_AND_FORWARD_DAYS = int(os.environ.get("STORE_AND_FORWARD_DAYS", "7"))
# Or a ring of them, comma-separated, newest first (replaces BLIND_INDEX_KEY when set): values
# are indexed under the newest and looked up under all, so the key can change without a gap.
BLIND_INDEX_KEYS = env_list("BLIND_INDEX_KEYS", "")
# Keys that sign offline gate tickets (rights.tickets): comma-separated "kid:base64url(32-byte Ed25519
# seed)", newest first. The newest signs; the public keys of all are published to gates
# (GET /api/v1/gate/keys), so a key can be replaced without refusing tickets already shown.
GATE_TICKET_KEYS = env_list("GATE_TICKET_KEYS", DEV_GATE_TICKET_KEY)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our own static files, never a CDN
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pgtrigger",
    "pghistory",
    "hub",
    "hub.staff",  # second factor and login throttling for every Django user
    "hub.monitoring",  # /healthz, /readyz, /metrics, JSON logs with request ids
    "hub.clearing",
    "members",
    "points",
    "rights",
    "hub.ops",  # dashboards (daily aggregates) and the merchant portal, /ops/
    "hub.history",  # trigger-based history of configuration (after the apps whose models it tracks)
]

MIDDLEWARE = [
    "hub.monitoring.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "hub.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "hub.staff.middleware.SecondFactorMiddleware",
    "hub.history.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"

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
    },
]


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    # `make run` / `make test` start an embedded server and write its URL here.
    url_file = BASE_DIR / ".pgdata" / "database_url"
    if url_file.exists():
        return url_file.read_text().strip()
    return "postgresql://postgres@127.0.0.1:5432/hub"


DATABASES = {"default": dj_database_url.parse(_database_url(), conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")))}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"].setdefault("TEST", {})
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The till's hot statements run prepared (hub/db.py); 0 behind a pooler that cannot keep them.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)


def _caches(url: str | None) -> dict:
    """CACHE_URL (or REDIS_URL): ``redis://…``/``rediss://…`` is Django's RedisCache (production:
    shared by every worker and host). Unset, the cache is a table of the hub's own PostgreSQL
    (``manage.py createcachetable``; `make run` and the tests create it), which every process on
    the database shares too, so nothing more needs installing for `make run`."""
    if not url:
        return {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "hub_cache",
                            "KEY_PREFIX": "hub"}}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                            "KEY_PREFIX": "hub"}}
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CACHE_URL must be a redis:// or rediss:// URL")


CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL") or ""
CACHES = _caches(CACHE_URL)

# Every password login is throttled per user and per address (hub.staff.throttle), then needs a
# second factor (TOTP or a backup code, hub.staff.middleware) before the session counts.
AUTHENTICATION_BACKENDS = ["hub.staff.backends.ThrottledModelBackend"]
LOGIN_FAILURES_PER_USER = int(os.environ.get("LOGIN_FAILURES_PER_USER", "5"))
LOGIN_FAILURES_PER_IP = int(os.environ.get("LOGIN_FAILURES_PER_IP", "20"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))
OTP_TOTP_ISSUER = "邮政积分清算中心"
# Staff sessions last 12 hours (a working day), not Django's 14 days; only staff and portal
# users have sessions.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
# Django's database sessions, read with a prepared statement (the same table and rows).
SESSION_ENGINE = "hub.staff.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
# The hub's own Chinese for Django's and third-party apps' untranslated strings (hub/locale,
# compiled .mo committed): first, so it also fills gaps of apps that have a zh-hans catalogue.
LOCALE_PATHS = [BASE_DIR / "hub" / "locale"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"  # served by the app itself while DEBUG is on (hub.urls), by the proxy otherwise
STATIC_ROOT = BASE_DIR / ".run" / "static"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))  # the fault suite keeps its files apart

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "hub.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clearing hub till API",
    "VERSION": "1.0.0",
    "DESCRIPTION": """The hub's native till API for cashier software, at `/api/v1/till/`: JSON in UTF-8 \
(bodies up to 64 KiB, batch 512 KiB), money in integer fen, points integers, times RFC 3339 with offset \
(business times are Asia/Shanghai). Fields are strict: unknown fields, floats, booleans or numeric strings \
where an integer is due are refused with `PARAM_ERROR` and a Chinese message naming the field.

## Signing

Every request carries

    Authorization: HUB-HMAC-SHA256 app_key="…",timestamp="<unix seconds>",nonce="…",signature="…"

    signature = Base64(HMAC-SHA256(secret,
        METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + BODY + "\\n"))

`PATH_WITH_QUERY` is the request target as sent (e.g. `/api/v1/till/trades/HUB1`), `BODY` the exact bytes \
sent (empty for GET). The timestamp must be within 300 seconds of the hub's clock (`TIMESTAMP_EXPIRED`); a \
nonce (8 to 64 of `A-Z a-z 0-9 _ -`) is single-use per app key for 15 minutes (`NONCE_REUSED`).

Answers to authenticated requests are signed with the same secret: headers `Hub-Timestamp`, `Hub-Nonce` and \
`Hub-Signature` = Base64(HMAC-SHA256(secret, TIMESTAMP + "\\n" + NONCE + "\\n" + BODY + "\\n")). \
A request that could not be authenticated gets an unsigned answer.

## Answers

`{"code": "SUCCESS" | error code, "message": Chinese text for the cashier, "data": {…}}`, HTTP 200 on \
success, otherwise the status of the code below. A request number is unique per merchant: the same number \
with the same content returns the first answer, with other content `IDEMPOTENCY_KEY_REUSED`. No answer, a 5xx \
or an unsigned 200 means the outcome is unknown: query or reverse, never assume failure.""",
    "TAGS": [{"name": "till", "description": "Till operations (signed with HUB-HMAC-SHA256)."}],
    "APPEND_COMPONENTS": {"securitySchemes": {"HubHmac": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": 'HUB-HMAC-SHA256 app_key="…",timestamp="…",nonce="…",signature="…" (see Signing above).',
    }}},
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN, nothing loaded from elsewhere.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"SuccessCodeEnum": "hub.api.serializers.SUCCESS_CODE",
                            "ErrorCodeEnum": "hub.api.serializers.ERROR_CODES",
                            "ResultCodeEnum": "hub.api.serializers.RESULT_CODES"},
    "PREPROCESSING_HOOKS": ["hub.api.schema.only_public_addresses"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "hub.api.schema.append_reference"],
}

# The till dialects the gateway speaks (hub.gateway.registry): code -> adapter class.
HUB_TILL_ADAPTERS = {
    "zhibaiwei": "hub.vendors.zhibaiwei.adapter.ZhibaiweiAdapter",
    "kemai": "hub.vendors.kemai.adapter.KemaiAdapter",
    "sixun": "hub.vendors.sixun.adapter.SixunAdapter",
    "fangxiang": "hub.vendors.fangxiang.adapter.FangxiangAdapter",
    "native": "hub.vendors.native.adapter.NativeAdapter",
    "cloudpos": "hub.vendors.cloudpos.adapter.CloudPosAdapter",  # the hub's own web till (/pos/)
}
# Till calls per credential per minute (a batch counts each of its items), and how many items of
# one batch may name their member by a weak credential (mobile or store card number).
GATEWAY_RATE_LIMIT_PER_MINUTE = int(os.environ.get("GATEWAY_RATE_LIMIT_PER_MINUTE", "6000"))
GATEWAY_BATCH_MAX_WEAK_ITEMS = int(os.environ.get("GATEWAY_BATCH_MAX_WEAK_ITEMS", "20"))
# How long the record of each till call (hub_tillcall) is kept; older rows are pruned daily.
GATEWAY_CALL_RETENTION_DAYS = int(os.environ.get("GATEWAY_CALL_RETENTION_DAYS", "90"))
# PEM of the hub's RSA key that signs Fangxiang responses (generated under .run/ when DEBUG).
FANGXIANG_HUB_PRIVATE_KEY = os.environ.get("FANGXIANG_HUB_PRIVATE_KEY")

# Celery: a broker that needs no server unless CELERY_BROKER_URL names one (Redis, RabbitMQ).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = Path(os.environ.get("CELERY_BROKER_FOLDER", BASE_DIR / ".run" / "broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER),
        "data_folder_out": str(CELERY_BROKER_FOLDER),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# The worker keeps the LOGGING below (JSON, request ids, redaction) instead of its own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The API schema and Swagger UI (/api/schema/, /api/docs/): open in development, signed-in staff
# only in production (hub.settings_production; hub.security.staff_only_docs).
API_DOCS_STAFF_ONLY = env_bool("API_DOCS_STAFF_ONLY", False)

# Content-Security-Policy of every page (hub.security): the admin and the API docs load nothing
# from elsewhere. Swagger UI's own stylesheet needs inline styles.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
                           "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

# The smart cloud POS (/pos/): a cashier's session ends after this many idle seconds.
POS_IDLE_SECONDS = int(os.environ.get("POS_IDLE_SECONDS", "900"))

# /metrics without login only from these addresses or networks (REMOTE_ADDR; hub.monitoring.views).
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")

# JSON lines with the request id, redacted (hub.monitoring.logs); LOG_FORMAT=plain for a terminal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "hub.monitoring.logs.RequestIdFilter"},
                "redact": {"()": "hub.monitoring.logs.RedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
                   "json": {"()": "hub.monitoring.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id", "redact"],
                             "formatter": "plain" if os.environ.get("LOG_FORMAT") == "plain" else "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Dashboards (hub.ops): how many days back the nightly check recomputes the daily aggregates.
OPS_AGGREGATE_CHECK_DAYS = int(os.environ.get("OPS_AGGREGATE_CHECK_DAYS", "62"))
# The member mini-program (members.miniprogram, docs/miniprogram.md): the sign-in client per
# channel (like HUB_TILL_ADAPTERS). The fake WeChat of the sandbox is the development default;
# hub.settings_production refuses it. The real client reads WECHAT_* below.
HUB_MINIPROGRAM_CLIENTS = {
    "wechat": os.environ.get("MINIPROGRAM_WECHAT_CLIENT", "members.miniprogram.clients.FakeWeChat"),
}
WECHAT_BASE_URL = os.environ.get("WECHAT_BASE_URL", "https://api.weixin.qq.com")
WECHAT_APP_ID = os.environ.get("WECHAT_APP_ID", "")
WECHAT_APP_SECRET = os.environ.get("WECHAT_APP_SECRET", "")
WECHAT_TIMEOUT_SECONDS = float(os.environ.get("WECHAT_TIMEOUT_SECONDS", "5"))
MINIPROGRAM_SESSION_IDLE_DAYS = int(os.environ.get("MINIPROGRAM_SESSION_IDLE_DAYS", "30"))
MINIPROGRAM_CONSENT_VERSION = os.environ.get("MINIPROGRAM_CONSENT_VERSION", "v1")
MINIPROGRAM_CONSENT_TEXT = (
    "《老俵情会员服务授权协议》（v1）：为向您提供会员互认、积分互通与权益服务，您同意邮政智慧场景积分清算中心"
    "处理您的手机号、会员等级、积分与权益记录，并在您另行授权的范围内与相关商户共享。您可随时在“我的-授权管理”"
    "中撤回对商户的授权，或注销账户；注销后登录会话与商户绑定即时失效，积分流水依法留存。")
# (per session, per IP) calls per minute; see members.miniprogram.ratelimit for the defaults.
MINIPROGRAM_RATE_LIMITS: dict = {}
# The mini-program's OpenAPI (/api/mp/v1/schema/) and Swagger UI: public unless set to 0.
MINIPROGRAM_DOCS_PUBLIC = env_bool("MINIPROGRAM_DOCS_PUBLIC", True)
