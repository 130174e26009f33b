"""The ledger's SQL (points/sql/ledger.sql) for migrations: idempotent, so every migration that
ships a change to it simply runs the whole file again. The file is rendered with the account kinds
of points/contract.py (the one definition of them)."""

from pathlib import Path

from points.contract import render_sql

LEDGER_SQL = render_sql((Path(__file__).resolve().parent.parent / "sql" / "ledger.sql").read_text())
