"""The hub's Prometheus metrics (prometheus-client).

Counters and histograms are kept per process; with several processes (gunicorn's workers, the
Celery worker) set PROMETHEUS_MULTIPROC_DIR to a directory they share, emptied before they start
(`make run` uses .run/prometheus): each process writes its values there and /metrics adds them up
(prometheus_client.multiprocess). Without it (tests, a single process) the process's own values
are served. The last ledger check is read from the database when scraped.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

TILL_CALLS = Counter("hub_till_calls", "Till calls answered by the gateway", ["dialect", "op", "outcome"])
TILL_CALL_SECONDS = Histogram(
    "hub_till_call_seconds", "Time the gateway took to answer a till call", ["dialect", "op"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_RUNS = Counter("hub_job_runs", "Scheduled and queued job runs by outcome", ["task", "outcome"])


def till_call(*, dialect: str, op: str, outcome: str, seconds: float) -> None:
    """One till call answered (hub.gateway.service.handle). ``outcome`` is the canonical code."""
    op = op or "unknown"
    TILL_CALLS.labels(dialect, op, outcome).inc()
    TILL_CALL_SECONDS.labels(dialect, op).observe(seconds)


class LedgerCheckCollector(Collector):
    """hub_ledger_check_ok (1 passed, 0 failed), its time and number of problem kinds, from the
    latest LedgerCheckRun; absent until the first run."""

    def collect(self):
        from hub.clearing.models import LedgerCheckRun

        run = LedgerCheckRun.objects.order_by("-started_at").only("finished_at", "ok", "problems").first()
        if run is None:
            return
        yield GaugeMetricFamily("hub_ledger_check_ok", "Whether the last ledger check passed", value=int(run.ok))
        yield GaugeMetricFamily("hub_ledger_check_finished_timestamp_seconds", "When the last ledger check finished",
                                value=run.finished_at.timestamp())
        yield GaugeMetricFamily("hub_ledger_check_problems", "Invariants the last ledger check found violated",
                                value=len(run.problems or {}))


def exposition() -> bytes:
    """The text exposition of every metric, all processes added up in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    ledger = CollectorRegistry()
    ledger.register(LedgerCheckCollector())
    return output + generate_latest(ledger)
