"""/healthz, /readyz and /metrics.

- ``/healthz``: the process answers (no database, no broker): 200 ``{"status": "ok"}``.
- ``/readyz``: the database answers on a fresh connection (3 s connect timeout), every migration
  of this code is applied, and the Celery broker is reachable when one is configured; 200 when
  all pass, 503 with the failing checks named otherwise (reasons go to the log, not the answer).
- ``/metrics``: Prometheus text, to the addresses of METRICS_ALLOWED_IPS (addresses or networks;
  REMOTE_ADDR, which a proxy in front must set) without login, or to a signed-in, verified staff
  user; 403 to anyone else.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from hub.monitoring import metrics

logger = logging.getLogger("hub.monitoring")

CONNECT_TIMEOUT = 3
_migrations_applied = False  # once all are applied they stay so for this code: not re-read per probe


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _fresh_connection():
    """A throwaway connection with the default database's settings, so a probe never shares (or
    breaks) a request's connection and always finds out whether the server answers now."""
    params = dict(connections.settings[DEFAULT_DB_ALIAS])
    params["OPTIONS"] = {**params.get("OPTIONS", {}), "connect_timeout": CONNECT_TIMEOUT}
    params["CONN_MAX_AGE"] = 0
    handler = connections[DEFAULT_DB_ALIAS].__class__
    return handler(params, DEFAULT_DB_ALIAS)


def check_database() -> dict[str, str]:
    global _migrations_applied
    conn = _fresh_connection()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        results = {"database": "ok"}
        if not _migrations_applied:
            loader = MigrationLoader(conn)  # every migration of this code, not only the leaves: an
            pending = set(loader.graph.nodes) - set(loader.applied_migrations)  # unapplied one under an applied one counts
            if pending:
                logger.warning("readyz: %d migrations not applied", len(pending))
                results["migrations"] = "pending"
                return results
            _migrations_applied = True
        results["migrations"] = "ok"
        return results
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready"
        logger.warning("readyz: database unreachable: %s", type(exc).__name__)
        return {"database": "unreachable", "migrations": "unknown"}
    finally:
        conn.close()


def check_broker() -> dict[str, str]:
    url = getattr(settings, "CELERY_BROKER_URL", "")
    if not url:
        return {}
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    if url.startswith("filesystem://"):  # kombu's filesystem transport "connects" to anything
        folders = [Path(options.get(name, "")) for name in ("data_folder_in", "data_folder_out")]
        ok = all(str(folder) not in ("", ".") and folder.is_dir() and os.access(folder, os.W_OK) for folder in folders)
        if not ok:
            logger.warning("readyz: broker folders missing or not writable")
        return {"broker": "ok" if ok else "unreachable"}
    from kombu import Connection

    try:
        with Connection(url, transport_options=options, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        return {"broker": "ok"}
    except Exception as exc:  # noqa: BLE001
        logger.warning("readyz: broker unreachable: %s", type(exc).__name__)
        return {"broker": "unreachable"}


@never_cache
@require_GET
def readyz(request):
    checks = {**check_database(), **check_broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _allowed_networks():
    networks = []
    for item in getattr(settings, "METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"]):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            logger.warning("METRICS_ALLOWED_IPS: ignoring %r", item)
    return networks


def metrics_allowed(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True  # verified: hub.staff.middleware makes an unverified user anonymous
    try:
        address = ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").strip())
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _allowed_networks())


@never_cache
@require_GET
def metrics_view(request):
    if not metrics_allowed(request):
        return HttpResponse("403 禁止访问：本地址不在 METRICS_ALLOWED_IPS 中", status=403,
                            content_type="text/plain; charset=utf-8")
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
