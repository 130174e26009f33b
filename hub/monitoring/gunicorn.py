"""gunicorn settings for `make run` (``--config python:hub.monitoring.gunicorn``): a worker that
exits is marked dead for Prometheus' multiprocess mode, so its live gauges stop counting."""


def child_exit(server, worker):
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
