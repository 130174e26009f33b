"""bench/till_http.py --profile: where a till call's time and CPU go, measured in one process.

The pre-signed calls of bench/till_http.py are sent through Django's whole WSGI stack (middleware
included) with the test client: first unprofiled, timed (every statement that reaches the
database, the PL/pgSQL functions' own time, this process's CPU and real time per phase of
``hub.gateway.service._handle`` and per dialect, the garbage collector's passes), then under
cProfile. ``profile_batches`` does the same for the batch uploads, per earn.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from pathlib import Path

answered_ahead = [0]  # fetch_prepared calls answered from a read ahead (hub.db.read_ahead)


@contextlib.contextmanager
def _timing_prepared(into: dict[str, list]):
    """Time every statement hub.db.fetch_prepared sends (the modules that imported it by name
    included) while inside; count those it answered from a read ahead."""
    from django.urls import get_resolver

    import hub.db

    get_resolver().url_patterns  # noqa: B018 - imports every view's modules before they are patched
    original = hub.db.fetch_prepared

    def timed(sql, params):
        ahead = hub.db._ahead.get()
        if ahead and isinstance(params, list | tuple) and hub.db.Lookup(sql, tuple(params)) in ahead:
            answered_ahead[0] += 1  # read by the admitting statement: no statement of its own
            return original(sql, params)
        t0 = time.perf_counter()
        try:
            return original(sql, params)
        finally:
            entry = into.setdefault(sql, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - t0

    holders = [module for module in list(sys.modules.values())
               if getattr(module, "fetch_prepared", None) is original]
    for module in holders:
        module.fetch_prepared = timed
    try:
        yield
    finally:
        for module in holders:
            module.fetch_prepared = original


@contextlib.contextmanager
def _timing_gc(into: dict[int, list]):
    """The cyclic garbage collector's passes while inside: {generation: [passes, seconds]}."""
    started: list[float] = []

    def callback(phase, info):
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            entry = into.setdefault(info["generation"], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started.pop()

    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)


PHASES = ("authenticate", "_admit_current", "context", "dispatch", "_record_end")
SHOWN = ("adapter.parse", *PHASES, "adapter.render")  # in the order a call runs them


@contextlib.contextmanager
def _timing_phases(into: dict[str, list]):
    """The gateway service's phases (hub.gateway.service: the functions ``_handle`` calls by name,
    and every adapter's parse and render),
    each timed in this thread's CPU (time.thread_time: Python and the client library, not the
    wait for the server) and in real time while inside: {phase: [calls, cpu s, real s]}."""
    from hub.gateway import service
    from hub.gateway.registry import adapters

    def timed(name, function):
        def run(*args, **kwargs):
            cpu, real = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                entry = into.setdefault(name, [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += time.thread_time() - cpu
                entry[2] += time.perf_counter() - real
        return run

    patched = [(service, name) for name in PHASES]
    patched += [(type(adapter), name) for adapter in adapters().values() for name in ("parse", "render")]
    originals = [(holder, name, holder.__dict__.get(name), getattr(holder, name)) for holder, name in patched]
    for holder, name, _, function in originals:
        setattr(holder, name, timed(name if holder is service else "adapter." + name, function))
    try:
        yield
    finally:
        for holder, name, own, _ in originals:
            if own is None:  # inherited: the base class's again
                delattr(holder, name)
            else:
                setattr(holder, name, own)


def _function_times(*, track: bool) -> dict[str, tuple[int, float, float]]:
    """This database's PL/pgSQL function statistics: {name: (calls, total ms, self ms)}; ``track``
    turns tracking on for this session first (a superuser setting: the bench's own server)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if track:
            cursor.execute("SET track_functions = 'all'")
        else:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions")
        return {name: (calls, total, own) for name, calls, total, own in cursor.fetchall()}


def profile_calls(requests_file: Path, count: int) -> None:
    """Send ``count`` pre-signed calls through Django's WSGI handler in this process, profiled, after
    ``count`` others unprofiled, timed by dialect and operation."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client()
    lines = requests_file.read_text().splitlines()[:2 * count]
    calls = []
    for line in lines:
        method, path, ctype, headers, body = line.split("\t", 4)
        body = body.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\").encode("latin-1")
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in
                 (h.split("\002", 1) for h in headers.split("\001") if h)}
        calls.append((method, path, ctype, body, extra))
    calls, timing_calls = calls[:count], calls[count:]
    import hub.wsgi  # noqa: F401 - as a gunicorn worker: the loaded code frozen out of the collector's passes

    gc.collect()
    gc.freeze()  # and this bench's seeding and pre-signed calls too, not there in a worker
    from django.db import connection

    statements: dict[str, list] = {}

    def timed(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = statements.setdefault(sql, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - t0

    from django.db.models import Max

    from hub.models import TillCall

    # First the real time per dialect and operation, unprofiled, on calls the profile does not
    # send (the call records say which dialect and operation each one was: calls run in order).
    before = TillCall.objects.aggregate(last=Max("id"))["last"] or 0
    spent, cpu_spent = [], []
    prepared: dict[str, list] = {}
    phases: dict[str, list] = {}
    collections: dict[int, list] = {}
    functions_before = _function_times(track=True)
    with _timing_prepared(prepared), _timing_phases(phases), _timing_gc(collections), \
            connection.execute_wrapper(timed):
        for method, path, ctype, body, extra in timing_calls:
            client.cookies.clear()
            t0, c0 = time.perf_counter(), time.thread_time()
            client.generic(method, path, body, content_type=ctype, **extra)
            spent.append(time.perf_counter() - t0)
            cpu_spent.append(time.thread_time() - c0)
    in_sql = sum(t for _, t in statements.values()) + sum(t for _, t in prepared.values())
    print(f"SQL, unprofiled: {sum(n for n, _ in statements.values()) / len(spent):.1f} statements per call through "
          f"Django's cursor and {sum(n for n, _ in prepared.values()) / len(spent):.1f} prepared (hub.db; "
          f"{answered_ahead[0] / len(spent):.1f} more answered from the admitting statement's reads ahead), "
          f"{1000 * in_sql / len(spent):.2f} ms per call of {1000 * sum(spent) / len(spent):.2f} ms; the costliest:")
    for sql, (n, seconds) in sorted([*statements.items(), *prepared.items()], key=lambda kv: -kv[1][1])[:10]:
        print(f"  {1000 * seconds / len(spent):6.2f} ms/call  {n:6d}×  {' '.join(sql.split())[:150]}")
    statements.clear()
    n = len(spent)
    print("this process's CPU (Python and the client library) and real time per call of the mix, by phase "
          "of hub.gateway.service._handle (the rest: the test client, WSGI, middleware, the view):")
    for name in SHOWN:
        calls_, cpu, real = phases.get(name, (0, 0.0, 0.0))
        print(f"  {name:16s} {calls_:5d}×  CPU {1000 * cpu / n:6.3f} ms  real {1000 * real / n:6.3f} ms")
    rest_cpu = sum(cpu_spent) - sum(v[1] for v in phases.values())
    rest_real = sum(spent) - sum(v[2] for v in phases.values())
    print(f"  {'the rest':16s} {n:5d}×  CPU {1000 * rest_cpu / n:6.3f} ms  real {1000 * rest_real / n:6.3f} ms")
    print(f"  {'whole call':16s} {n:5d}×  CPU {1000 * sum(cpu_spent) / n:6.3f} ms  real {1000 * sum(spent) / n:6.3f} ms")
    print(f"  of which the garbage collector ({len(gc.get_objects())} objects tracked, "
          f"{gc.get_freeze_count()} frozen): " + (", ".join(
              f"generation {g}: {passes} passes, {1000 * seconds / n:.3f} ms per call (longest pass "
              f"included)" for g, (passes, seconds) in sorted(collections.items())) or "no pass"))
    functions = _function_times(track=False)
    print("inside the database, PL/pgSQL functions and triggers (track_functions = all), per call of the mix:")
    for name, (ncalls, total, own) in sorted(functions.items(), key=lambda kv: -kv[1][2]):
        calls0, total0, own0 = functions_before.get(name, (0, 0.0, 0.0))
        if ncalls > calls0:
            print(f"  {name:32s} {ncalls - calls0:6d}×  self {(own - own0) / len(spent):6.3f} ms  "
                  f"total {(total - total0) / len(spent):6.3f} ms")
    kinds = list(TillCall.objects.filter(id__gt=before).order_by("id").values_list("vendor", "op"))
    if len(kinds) == len(spent):
        by_kind: dict[tuple, list] = {}
        cpu_by_kind: dict[tuple, float] = {}
        for kind, seconds, cpu in zip(kinds, spent, cpu_spent, strict=True):
            by_kind.setdefault(kind, []).append(seconds)
            cpu_by_kind[kind] = cpu_by_kind.get(kind, 0.0) + cpu
        print(f"real time per call, unprofiled ({len(spent)} calls, {1000 * sum(spent) / len(spent):.2f} ms mean), "
              f"and this process's CPU:")
        for (vendor, op), times in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
            cpu = cpu_by_kind[vendor, op] / len(times)
            times.sort()
            print(f"  {vendor:10s} {op:9s} {len(times):5d}×  mean {1000 * sum(times) / len(times):6.2f} ms  "
                  f"p50 {1000 * times[len(times) // 2]:6.2f} ms  CPU {1000 * cpu:5.2f} ms  "
                  f"share {100 * sum(times) / sum(spent):4.1f}%")
        slowest = sorted(range(len(spent)), key=spent.__getitem__)[-3:][::-1]
        print("  slowest: " + ", ".join(f"{' '.join(kinds[n])} (call {n + 1}) {1000 * spent[n]:.1f} ms"
                                        for n in slowest))
    else:  # another process wrote call records meanwhile
        print(f"real time per call, unprofiled: {1000 * sum(spent) / len(spent):.2f} ms mean")

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    codes: dict[int, int] = {}
    with connection.execute_wrapper(timed):
        for method, path, ctype, body, extra in calls:
            client.cookies.clear()  # as wrk: no call carries another's cookies
            status = client.generic(method, path, body, content_type=ctype, **extra).status_code
            codes[status] = codes.get(status, 0) + 1
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{len(calls)} calls in {elapsed:.2f}s = {1000 * elapsed / len(calls):.2f} ms per call; statuses {codes}")
    dump = requests_file.parent / "profile.pstats"
    profiler.dump_stats(dump)
    print(f"profile saved to {dump} (python -m pstats {dump})")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    total = sum(n for n, _ in statements.values())
    print(f"SQL through Django: {total / len(calls):.1f} statements per call, "
          f"{1000 * sum(t for _, t in statements.values()) / len(calls):.2f} ms per call; the costliest:")
    for sql, (n, spent) in sorted(statements.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"  {1000 * spent / len(calls):6.2f} ms/call  {n:6d}×  {' '.join(sql.split())[:160]}")


def profile_batches(specs: list) -> None:
    """Send the pre-signed batch uploads through Django's WSGI handler in this process: the first
    timed (real and CPU per earn), the rest under cProfile."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client()

    def send(spec) -> int:
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()}
        answer = client.generic(spec.method, spec.path, spec.body, content_type=spec.content_type, **extra)
        return sum(1 for item in answer.json().get("data", {}).get("items", []) if item["code"] == "SUCCESS")

    phases: dict[str, list] = {}
    collections: dict[int, list] = {}
    t0, c0 = time.perf_counter(), time.thread_time()
    with _timing_phases(phases), _timing_gc(collections):
        written = send(specs[0])
    real, cpu = time.perf_counter() - t0, time.thread_time() - c0
    print(f"batch upload in process: {written} earns written, {1e6 * real / max(1, written):.0f} µs real and "
          f"{1e6 * cpu / max(1, written):.0f} µs of this process's CPU per earn; by phase, per earn:")
    for name in SHOWN:
        calls_, cpu_, real_ = phases.get(name, (0, 0.0, 0.0))
        print(f"  {name:16s} CPU {1e6 * cpu_ / max(1, written):7.1f} µs  real {1e6 * real_ / max(1, written):7.1f} µs")
    print("  the garbage collector: " + (", ".join(
        f"generation {g}: {passes} passes, {1e6 * seconds / max(1, written):.1f} µs per earn"
        for g, (passes, seconds) in sorted(collections.items())) or "no pass"))
    if len(specs) > 1:
        profiler = cProfile.Profile()
        profiler.enable()
        for spec in specs[1:]:
            send(spec)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
