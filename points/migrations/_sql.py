"""The ledger's SQL (points/sql/ledger.sql) for migrations: idempotent, so every migration that
ships a change to it simply runs the whole file again."""

from pathlib import Path

LEDGER_SQL = (Path(__file__).resolve().parent.parent / "sql" / "ledger.sql").read_text()
