"""Sixun's flat XML: a strict reader and the matching writer (pure functions).

The reader accepts one shape only: an optional prolog declaring UTF-8 or GBK, a single ``<xml>``
root whose children are leaf elements with plain names, no attributes, no duplicates. A DOCTYPE,
an entity declaration or reference, a processing instruction, nesting or bytes invalid in the
declared encoding are refused with PARAM_ERROR. Parsing goes through defusedxml with DTDs
forbidden, and the collector below raises on the first element out of place, so a bomb or an
external entity is refused before anything is expanded or fetched.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from hub.errors import DomainError, ParamError

CHARSETS = {"UTF-8": "utf-8", "GBK": "gbk"}  # declared name -> Python codec
MAX_FIELDS = 64

_PROLOG = re.compile(
    rb"<\?xml\s+version\s*=\s*([\"'])1\.[0-9]\1"
    rb"(?:\s+encoding\s*=\s*([\"'])([A-Za-z][A-Za-z0-9._\-]*)\2)?"
    rb"(?:\s+standalone\s*=\s*([\"'])(?:yes|no)\4)?\s*\?>"
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Characters XML 1.0 cannot carry (C0 controls other than tab/LF/CR, surrogates, U+FFFE/U+FFFF).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BOM = b"\xef\xbb\xbf"


def split_prolog(body: bytes) -> tuple[str, bytes]:
    """Return the declared charset ("UTF-8" or "GBK") and the document after the prolog."""
    has_bom = body.startswith(_BOM)
    if has_bom:
        body = body[len(_BOM):]
    if not body.startswith(b"<?xml"):
        return "UTF-8", body  # no prolog: XML's default, UTF-8
    match = _PROLOG.match(body)
    if match is None:
        raise ParamError("XML 声明格式错误")
    declared = (match.group(3) or b"UTF-8").decode("ascii").upper()
    if declared not in CHARSETS or (has_bom and declared != "UTF-8"):
        raise ParamError("XML 编码不支持（仅支持 UTF-8 或 GBK）")
    rest = body[match.end():]
    if rest.lstrip().startswith(b"<?xml"):
        raise ParamError("XML 格式错误：重复的 XML 声明")
    return declared, rest


class _FlatCollector:
    """Parser target that builds {name: text} and refuses anything but flat leaf fields."""

    def __init__(self):
        self.depth = 0
        self.fields: dict[str, str] = {}
        self._name: str | None = None
        self._text: list[str] = []

    def start(self, tag, attrib):
        if attrib:
            raise ParamError("XML 格式错误：不接受属性")
        self.depth += 1
        if self.depth == 1:
            if tag != "xml":
                raise ParamError("XML 格式错误：根元素应为 <xml>")
        elif self.depth == 2:
            if not _NAME.match(tag):
                raise ParamError("XML 格式错误：字段名不合法")
            if tag in self.fields:
                raise ParamError(f"XML 格式错误：字段重复：{tag}")
            if len(self.fields) >= MAX_FIELDS:
                raise ParamError("XML 格式错误：字段过多")
            self._name, self._text = tag, []
        else:
            raise ParamError("XML 格式错误：不接受嵌套元素")

    def end(self, tag):
        if self.depth == 2:
            self.fields[self._name] = "".join(self._text)
            self._name = None
        self.depth -= 1

    def data(self, text):
        if self.depth == 2:
            self._text.append(text)
        elif text.strip():
            raise ParamError("XML 格式错误：<xml> 下只能是字段元素")

    def pi(self, target, data):
        raise ParamError("XML 格式错误：不接受处理指令")

    def comment(self, text):
        pass  # harmless; dropped

    def close(self):
        return self.fields


def read_fields(document: bytes, charset: str) -> dict[str, str]:
    """Parse the document (prolog already removed) read in ``charset`` into its fields."""
    try:
        text = document.decode(CHARSETS[charset])
    except UnicodeDecodeError:
        raise ParamError(f"请求内容不是合法的 {charset} 编码") from None
    parser = DefusedXMLParser(target=_FlatCollector(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(text.encode("utf-8"))
        return parser.close()
    except DomainError:
        raise
    except (ParseError, DefusedXmlException, ValueError, RecursionError):
        raise ParamError("XML 格式错误") from None


def clean(value: str, charset: str) -> str:
    """A value as it can travel: characters XML cannot carry dropped, and in a GBK document
    characters GBK lacks replaced by '?', so the signature covers exactly what the till reads."""
    value = _ILLEGAL.sub("", value)
    if charset == "GBK":
        value = value.encode("gbk", "replace").decode("gbk")
    return value


def _escape(value: str) -> str:
    # \r is written as a reference: a literal CR would be normalised away by the reader.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def write_document(fields: list[tuple[str, str]], charset: str) -> bytes:
    """``<?xml version="1.0" encoding="…"?><xml>…</xml>`` in ``charset``; values must be clean()."""
    parts = [f'<?xml version="1.0" encoding="{charset}"?>', "<xml>"]
    for name, value in fields:
        if not _NAME.match(name):
            raise ValueError(f"bad Sixun field name {name!r}")
        parts.append(f"<{name}>{_escape(value)}</{name}>")
    parts.append("</xml>")
    return "".join(parts).encode(CHARSETS[charset])
