"""Structured logs: one JSON object a line, each with the id of the request (or job) it belongs
to, and never a full mobile, ID number, token or secret.

- ``RequestIdMiddleware`` (first in MIDDLEWARE) takes the caller's ``X-Request-ID`` when it is
  sane (8–64 of ``A-Z a-z 0-9 . _ -``), otherwise makes one, and answers it in ``X-Request-ID``.
- ``RequestIdFilter`` puts it on every record (``-`` outside a request; a Celery job's id inside
  a job, see hub.monitoring.jobs).
- ``RedactingFilter`` rewrites each record's message and traceback: mobiles become
  ``138****1234``, 18-character ID numbers ``[ID]``, ``secret=…``/``token=…``/``signature=…``/
  ``password=…`` values and long mixed-case key-like strings ``[REDACTED]``.
- ``JsonFormatter`` writes the line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get(self.header, "")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_SECRET_PAIR = re.compile(
    r"""(?i)\b((?:app_?)?secret|token|signature|sign|password|passwd|pwd|otp|code_?verifier|authorization|api_?key|
    private_?key|session_?id|sessionid|csrftoken|key)(["']?\s*[=:]\s*["']?)([^\s"',&;}]+)""",
    re.VERBOSE,
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9_+/=-])[A-Za-z0-9_+/-]{32,}={0,2}(?![A-Za-z0-9_+/=-])")


def _keylike(match: re.Match) -> str:
    text = match.group(0)
    mixed = any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
    return "[REDACTED]" if mixed else text


def redact(text: str) -> str:
    """``text`` with mobiles masked and ID numbers, tokens and secrets removed."""
    if not text:
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    text = _ID_NUMBER.sub("[ID]", text)
    text = _MOBILE.sub(r"\1****\3", text)
    return _KEYLIKE.sub(_keylike, text)


class RedactingFilter(logging.Filter):
    """Rewrites the record in place (message and traceback) before any handler writes it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)
