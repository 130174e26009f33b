"""Real threads against real PostgreSQL for the race and storm tests (each thread has its own
database connection, closed when the thread ends)."""

from __future__ import annotations

import threading

from django.db import connection


def race(n: int, fn, *, timeout: float = 120) -> list:
    """Run fn(i) in n threads released at the same instant; return results or exceptions."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
