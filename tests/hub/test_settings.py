"""hub.settings_production refuses to start with the development defaults.

Each case imports the settings in a fresh interpreter with a clean environment, exactly as a
production process would (gunicorn, celery), so nothing of the test run leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub import settings as dev_settings

BASE_DIR = Path(__file__).resolve().parents[2]

GOOD = {
    "SECRET_KEY": "k" * 20 + "-production-secret-key-0123456789",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": "b" * 16 + "-production-blind-index-key-0123",
    "FINGERPRINT_KEY": "f" * 16 + "-production-fingerprint-key-0123",
    "GATE_TICKET_KEYS": "k2026:" + "A" * 43,  # an Ed25519 seed (32 bytes) in base64url
    "DATABASE_URL": "postgresql://hub@db.internal:5432/hub",
    "ALLOWED_HOSTS": "hub.example.cn",
    "CACHE_URL": "redis://cache.internal:6379/0",
    # the mini-program's real WeChat client (the sandbox's fake is refused in production)
    "MINIPROGRAM_WECHAT_CLIENT": "members.miniprogram.clients.WeChatClient",
    "WECHAT_APP_ID": "wx0123456789abcdef",
    "WECHAT_APP_SECRET": "production-wechat-app-secret",
    "FANGXIANG_HUB_PRIVATE_KEY": (BASE_DIR / "tests" / "fixtures" / "fangxiang" / "hub_test_private.pem").read_text(),
}

SETUP = (
    "import os, django\n"
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'hub.settings_production'\n"
    "from django.core.exceptions import ImproperlyConfigured\n"
    "try:\n"
    "    django.setup()\n"
    "except ImproperlyConfigured as exc:\n"
    "    print('REFUSED', exc)\n"
    "    raise SystemExit(3)\n"
    "from django.conf import settings\n"
    "print('OK', settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.ALLOWED_HOSTS, settings.FIELD_ENCRYPTION_KEYS[0][:4])\n"
)


def start(env: dict) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(BASE_DIR), **env}
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60
    )


def test_accepts_proper_values():
    result = start(GOOD)
    assert result.returncode == 0, result.stdout + result.stderr
    keyprefix = GOOD["FIELD_ENCRYPTION_KEYS"][:4]
    assert result.stdout.strip() == f"OK False True ['hub.example.cn'] {keyprefix}"


def test_refuses_an_environment_with_nothing_set():
    result = start({})
    assert result.returncode == 3, result.stdout + result.stderr
    for problem in ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "FINGERPRINT_KEY"]:
        assert problem in result.stdout


@pytest.mark.parametrize(
    "name, value",
    [
        ("SECRET_KEY", dev_settings.DEV_SECRET_KEY),
        ("SECRET_KEY", "short-secret"),
        ("FIELD_ENCRYPTION_KEYS", dev_settings.DEV_FIELD_ENCRYPTION_KEY),
        # the development key anywhere in the ring, even as an old key, is refused
        ("FIELD_ENCRYPTION_KEYS", f"{GOOD['FIELD_ENCRYPTION_KEYS']},{dev_settings.DEV_FIELD_ENCRYPTION_KEY}"),
        ("BLIND_INDEX_KEY", dev_settings.DEV_BLIND_INDEX_KEY),
        ("FANGXIANG_HUB_PRIVATE_KEY", ""),
        ("BLIND_INDEX_KEY", "too-short"),
        ("FINGERPRINT_KEY", dev_settings.DEV_FINGERPRINT_KEY),
        ("FINGERPRINT_KEY", "too-short"),
        ("GATE_TICKET_KEYS", dev_settings.DEV_GATE_TICKET_KEY),
        ("GATE_TICKET_KEYS", f"k2026:{'A' * 43},{dev_settings.DEV_GATE_TICKET_KEY}"),  # the sandbox key, even old
        ("GATE_TICKET_KEYS", "k2026:too-short"),
        ("DEBUG", "1"),
        ("ALLOWED_HOSTS", ""),  # unset: the development default (with testserver) is refused
        ("CACHE_URL", ""),  # no shared cache: limits and throttles would be per worker
    ],
)
def test_refuses_a_default_or_weak_value(name, value):
    result = start({**GOOD, name: value})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith("REFUSED refusing to start")
    assert name in result.stdout


SECURITY = (
    "import os, django\n"
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'hub.settings_production'\n"
    "django.setup()\n"
    "from django.conf import settings as s\n"
    "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None),\n"
    "      s.CACHES['default']['BACKEND'].rsplit('.', 1)[1], s.API_DOCS_STAFF_ONLY)\n"
)


def _security(env: dict) -> str:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(BASE_DIR), **env}
    result = subprocess.run([sys.executable, "-c", SECURITY], cwd=BASE_DIR, env=clean, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_production_https_cache_and_docs_decisions():
    assert _security(GOOD) == "True 31536000 None RedisCache True"
    # the proxy's header is trusted only when it is configured
    assert _security({**GOOD, "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}).split()[2:4] == [
        "('HTTP_X_FORWARDED_PROTO',", "'https')"]
    assert _security({**GOOD, "REDIS_URL": "redis://r:6379/1", "CACHE_URL": ""}).split()[3] == "RedisCache"


def test_development_cache_is_shared_without_a_server():
    assert dev_settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


@pytest.mark.django_db
def test_api_docs_offline_with_a_csp_and_staff_only_in_production(client, settings, admin_user):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower() and "https://" not in html and "http://" not in html  # nothing from elsewhere
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "<script>" not in html  # no inline script: the start-up script is a file of its own
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]

    settings.API_DOCS_STAFF_ONLY = True  # as in hub.settings_production
    assert client.get("/api/docs/")["Location"].startswith("/admin/login/")
    assert client.get("/api/docs/?script=").status_code == 403
    assert client.get("/api/schema/").status_code == 403
    client.force_login(admin_user)
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
