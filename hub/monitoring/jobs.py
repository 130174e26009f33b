"""Celery jobs: counted in hub_job_runs_total{task,outcome}, and their log lines carry the job's
id as request id."""

from __future__ import annotations

from celery import signals

from hub.monitoring import logs, metrics

_tokens: dict[str, object] = {}


def _prerun(task_id=None, task=None, **_):
    if task_id:
        _tokens[task_id] = logs.request_id.set(f"job-{task_id}")


def _postrun(task_id=None, task=None, state=None, **_):
    token = _tokens.pop(task_id, None)
    if token is not None:
        logs.request_id.reset(token)


def _success(sender=None, **_):
    metrics.JOB_RUNS.labels(getattr(sender, "name", "unknown"), "success").inc()


def _failure(sender=None, **_):
    metrics.JOB_RUNS.labels(getattr(sender, "name", "unknown"), "failure").inc()


def _retry(sender=None, **_):
    metrics.JOB_RUNS.labels(getattr(sender, "name", "unknown"), "retry").inc()


def connect() -> None:
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="hub.monitoring.prerun")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="hub.monitoring.postrun")
    signals.task_success.connect(_success, weak=False, dispatch_uid="hub.monitoring.success")
    signals.task_failure.connect(_failure, weak=False, dispatch_uid="hub.monitoring.failure")
    signals.task_retry.connect(_retry, weak=False, dispatch_uid="hub.monitoring.retry")
