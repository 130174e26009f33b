"""Strict JSON in, compact JSON out, and the size-checked request body — for every JSON dialect.

Numbers with a fraction or exponent decode to ``Decimal`` (never ``float``), so a value like
``128.5`` where an integer is due is refused by the field's own check with the field's name.
NaN/Infinity, duplicate keys, invalid UTF-8, lone surrogates (``\\ud800``) and absurd nesting are
refused as PARAM_ERROR.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig

from hub.errors import ParamError
from hub.gateway.base import MAX_BODY_BYTES

_SURROGATE = re.compile("[\ud800-\udfff]")
# What a lone surrogate in the decoded value can come from: one in the text itself (a ``str``
# handed in), or a ``\uD800``–``\uDFFF`` escape. A text with neither decodes to none, so the walk
# over the decoded value (a batch's thousands of strings) is needed only when this matches.
_SURROGATE_SOURCE = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")


def _refuse_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def _object_without_duplicates(pairs: list) -> dict:
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def loads_object(raw: bytes | str, *, what: str = "请求体") -> dict:
    """Decode a JSON object; ``what`` names it in the Chinese error message."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise ParamError(f"{what}不是有效的 UTF-8 编码") from None
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant,
                           object_pairs_hook=_object_without_duplicates)
    except (ValueError, RecursionError):
        raise ParamError(f"{what}不是有效的 JSON") from None
    if not isinstance(value, dict):
        raise ParamError(f"{what}应为 JSON 对象")
    # a "\\ud800" escape decodes to a lone surrogate, which no encoding carries
    if _SURROGATE_SOURCE.search(text) and _has_surrogate(value):
        raise ParamError(f"{what}含有无效的 Unicode 字符")
    return value


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def dumps_compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_body(request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The exact body bytes, refused above ``limit`` (before reading them when the length is declared)."""
    too_big = ParamError(f"请求体过大（上限 {limit // 1024} KiB）")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise too_big
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(body) > limit:
        raise too_big
    return body
