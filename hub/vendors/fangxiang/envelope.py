"""Fangxiang request and response bodies: strict form and JSON reading, signed response text.

A response is ``{"<method_with_underscores>_response":{…},"sign":"…"}``; the signature covers
the exact text of the inner object as it appears in the body, so the writer signs the very
characters it emits and the reader cuts the object's text out of the body without re-encoding.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from hub.errors import ParamError
from hub.gateway.jsonio import read_body  # noqa: F401 - the adapter reads bodies through here
from hub.vendors.fangxiang import signing

MAX_PARAMS = 64
ERROR_KEY = "error_response"
_JSON_SPACE = re.compile(r"[ \t\n\r]*")




def read_form(body: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` UTF-8 parameters; a repeated name is refused."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_PARAMS)
    except UnicodeDecodeError:
        raise ParamError("请求参数编码错误（应为 UTF-8 表单）") from None
    except ValueError:  # more than MAX_PARAMS fields
        raise ParamError("请求参数过多") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise ParamError(f"参数重复：{name[:32]}")
        params[name] = value
    return params


def _refuse_float(text):
    raise ParamError("biz_content 不接受小数数字（金额请用元字符串，如 \"128.50\"）")


def _refuse_constant(text):
    raise ParamError("biz_content 不是合法的 JSON")


def _unique_object(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise ParamError(f"biz_content 字段重复：{name[:32]}")
        obj[name] = value
    return obj


def read_biz_content(text: str) -> dict:
    """A JSON object with no floats, no NaN/Infinity and no repeated keys."""
    try:
        value = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_constant,
                           object_pairs_hook=_unique_object)
    except (ValueError, RecursionError):
        raise ParamError("biz_content 不是合法的 JSON") from None
    if not isinstance(value, dict):
        raise ParamError("biz_content 应为 JSON 对象")
    return value


def response_key(method: str | None) -> str:
    return method.replace(".", "_") + "_response" if method else ERROR_KEY


def write_signed(key: str, inner: dict, private_key) -> bytes:
    inner_text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"), default=str)
    signature = signing.rsa_sign(inner_text, private_key)
    text = "{" + json.dumps(key) + ":" + inner_text + ',"sign":' + json.dumps(signature) + "}"
    return text.encode("utf-8")


def _members(text: str):
    """Yield (name, exact value text, value) for each member of the top-level JSON object."""
    decoder = json.JSONDecoder()
    index = _JSON_SPACE.match(text, 0).end()
    if text[index:index + 1] != "{":
        raise ValueError("not a JSON object")
    index = _JSON_SPACE.match(text, index + 1).end()
    if text[index:index + 1] == "}":
        return
    while True:
        name, index = decoder.raw_decode(text, index)
        if not isinstance(name, str):
            raise ValueError("member name is not a string")
        index = _JSON_SPACE.match(text, index).end()
        if text[index:index + 1] != ":":
            raise ValueError("expected ':'")
        start = _JSON_SPACE.match(text, index + 1).end()
        value, index = decoder.raw_decode(text, start)
        yield name, text[start:index], value
        index = _JSON_SPACE.match(text, index).end()
        if text[index:index + 1] == "}":
            if text[index + 1:].strip(" \t\n\r"):
                raise ValueError("trailing data")
            return
        if text[index:index + 1] != ",":
            raise ValueError("expected ',' or '}'")
        index = _JSON_SPACE.match(text, index + 1).end()


def read_signed(body: bytes) -> tuple[str, str, dict, str]:
    """(response key, exact inner text, inner object, sign) of a response; ValueError if malformed."""
    text = body.decode("utf-8")
    found: dict[str, tuple[str, object]] = {}
    for name, raw, value in _members(text):
        if name in found:
            raise ValueError(f"repeated member {name!r}")
        found[name] = (raw, value)
    keys = [name for name in found if name.endswith("_response")]
    if len(keys) != 1 or not isinstance(found[keys[0]][1], dict):
        raise ValueError("expected exactly one *_response object")
    sign = found.get("sign", ("", ""))[1]
    if not isinstance(sign, str):
        raise ValueError("sign is not a string")
    raw, inner = found[keys[0]]
    return keys[0], raw, inner, sign
