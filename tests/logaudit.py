"""The log audit of a whole test run: nothing personal or secret is ever logged.

Every record the suite's processes log goes, as in production, through the console handler's
filters (request id, redaction) and the JSON formatter, into ``artifacts/logs/test-run.jsonl``.
Meanwhile every mobile and ID number a test gives a member is noted (a signal on save, from the
plain values before encryption), with the secrets of the settings. When the run ends the file is
searched for each of them, for unmasked mobile and ID number shapes and for mini-program tokens;
a hit fails the run, naming the line and the kind of value (never the value itself).

The gunicorn and Celery children of the fault suite and the live-server tests log to their own
files, which this audit does not read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_FILE = ROOT / "artifacts" / "logs" / "test-run.jsonl"

# Standalone numbers only: a request id's hex (…f17332114312b…) is not a mobile. Every mobile a test
# gave a member is searched for anywhere in the line besides (``_values``).
_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MP_TOKEN = re.compile(r"lbq_[A-Za-z0-9_-]{20,}")
_SECRET_SETTINGS = ("SECRET_KEY", "BLIND_INDEX_KEY", "FINGERPRINT_KEY", "FIELD_ENCRYPTION_KEYS",
                    "WECHAT_APP_SECRET")

_values: dict[str, str] = {}  # sensitive value -> what it is
_handler: logging.Handler | None = None


def _note_member(sender, instance, **kwargs) -> None:
    for field, kind in (("mobile", "a member's mobile"), ("id_number", "a member's ID number")):
        value = getattr(instance, field, "") or ""
        if isinstance(value, str) and len(value) >= 11:
            _values[value] = kind


def start() -> None:
    """Attach the audit handler to the root logger (call once the settings are configured)."""
    global _handler
    if _handler is not None:
        attach()
        return
    from django.conf import settings
    from django.db.models.signals import pre_save

    from hub.monitoring.logs import JsonFormatter, RedactingFilter, RequestIdFilter
    from members.models import Member

    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOG_FILE.write_text("", encoding="utf-8")
    # Appending, so that the handler reopens the file after a dictConfig closed it (logging.config
    # closes every existing handler; one opened with mode "w" then drops each record silently).
    _handler = logging.FileHandler(LOG_FILE, mode="a", encoding="utf-8")
    _handler.addFilter(RequestIdFilter())
    _handler.addFilter(RedactingFilter())
    _handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(_handler)
    pre_save.connect(_note_member, sender=Member, dispatch_uid="logaudit-member", weak=False)
    for name in _SECRET_SETTINGS:
        value = getattr(settings, name, "")
        for part in value if isinstance(value, list | tuple) else [value]:
            if isinstance(part, str) and len(part) >= 16:
                _values[part] = f"the setting {name}"


def attach() -> None:
    """Put the handler back on the root logger if something reconfigured logging meanwhile
    (a dictConfig, e.g. a Celery worker's set-up in a test, removes and closes it; it reopens
    on its next record); called before every test."""
    root = logging.getLogger()
    if _handler is not None and _handler not in root.handlers:
        root.addHandler(_handler)


def problems() -> list[str]:
    """Each line of the run's log that carries a sensitive value (described, not quoted)."""
    if _handler is not None:
        _handler.flush()
    return scan(LOG_FILE, _values)


def scan(path: Path, values: dict[str, str]) -> list[str]:
    """Lines of ``path`` that carry one of ``values`` (value -> what it is) or the shape of a
    mobile, an ID number or a mini-program token."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        kinds = {kind for value, kind in values.items() if value in line}
        if _MOBILE.search(line):
            kinds.add("an unmasked mobile number")
        if _ID_NUMBER.search(line):
            kinds.add("an ID number")
        if _MP_TOKEN.search(line):
            kinds.add("a mini-program session token")
        if kinds:
            found.append(f"{path.name}:{number}: {', '.join(sorted(kinds))}")
    return found


def stop() -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
