"""Hostile and broken XML: refused with PARAM_ERROR, quickly, before anything is expanded."""

import time

import pytest
from defusedxml import DTDForbidden

from hub.errors import ParamError
from hub.gateway.base import MAX_BODY_BYTES
from hub.vendors.sixun.adapter import SixunAdapter
from tests.hub.vendors.sixun.helpers import document, fields_for, post, signed

adapter = SixunAdapter()
PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>'
QUERY = signed(fields_for("order.query", ("out_trade_no", "SX1")))
FIELDS = b"".join(f"<{n}>{v}</{n}>".encode() for n, v in QUERY)

BILLION_LAUGHS = PROLOG + b"""<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]><xml>""" + FIELDS + b"<attach>&lol9;</attach></xml>"

HOSTILE = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": PROLOG + b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml>' + FIELDS
    + b"<attach>&xxe;</attach></xml>",
    "external parameter entity": PROLOG + b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
    + b"<xml>" + FIELDS + b"</xml>",
    "doctype alone": PROLOG + b"<!DOCTYPE xml><xml>" + FIELDS + b"</xml>",
    "external doctype": PROLOG + b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml>' + FIELDS + b"</xml>",
    "entity reference without a DTD": PROLOG + b"<xml>" + FIELDS + b"<attach>&xxe;</attach></xml>",
    "nested element": PROLOG + b"<xml>" + FIELDS + b"<attach><a>1</a></attach></xml>",
    "attribute on a field": PROLOG + b'<xml><attach kind="x">1</attach>' + FIELDS + b"</xml>",
    "attribute on the root": PROLOG + b'<xml id="1">' + FIELDS + b"</xml>",
    "namespaced root": PROLOG + b'<xml xmlns="urn:x">' + FIELDS + b"</xml>",
    "duplicate field": PROLOG + b"<xml>" + FIELDS + b"<out_trade_no>SX2</out_trade_no></xml>",
    "processing instruction": PROLOG + b"<xml><?php system('id'); ?>" + FIELDS + b"</xml>",
    "processing instruction after the root": PROLOG + b"<xml>" + FIELDS + b"</xml><?evil x?>",
    "second xml declaration": PROLOG + b'<?xml version="1.0"?><xml>' + FIELDS + b"</xml>",
    "root is not xml": PROLOG + b"<root>" + FIELDS + b"</root>",
    "text beside the fields": PROLOG + b"<xml>loose text" + FIELDS + b"</xml>",
    "truncated": PROLOG + b"<xml>" + FIELDS,
    "empty body": b"",
    "not xml at all": b'{"appid": "sx_test_app"}',
    "malformed prolog": b'<?xml version="1.0" encoding=GBK?><xml>' + FIELDS + b"</xml>",
    "invalid GBK bytes": b'<?xml version="1.0" encoding="GBK"?><xml>' + FIELDS + b"<attach>\x81\x20\xff</attach></xml>",
    "invalid UTF-8 bytes": PROLOG + b"<xml>" + FIELDS + b"<attach>\xc3\x28\xa0\xa1</attach></xml>",
    "GBK bytes declared as UTF-8": PROLOG + b"<xml>" + FIELDS + "<attach>苹果</attach></xml>".encode("gbk"),
    "declared ISO-8859-1": b'<?xml version="1.0" encoding="ISO-8859-1"?><xml>' + FIELDS + b"</xml>",
    "declared GB2312": b'<?xml version="1.0" encoding="GB2312"?><xml>' + FIELDS + b"</xml>",
    "declared UTF-16": '<?xml version="1.0" encoding="UTF-16"?><xml></xml>'.encode("utf-16"),
    "declared UTF-16 in ASCII": b'<?xml version="1.0" encoding="UTF-16"?><xml>' + FIELDS + b"</xml>",
    "declared US-ASCII": b'<?xml version="1.0" encoding="US-ASCII"?><xml>' + FIELDS + b"</xml>",
    "BOM with GBK declared": b'\xef\xbb\xbf<?xml version="1.0" encoding="GBK"?><xml>' + FIELDS + b"</xml>",
    "too many fields": PROLOG + b"<xml>" + FIELDS + b"".join(b"<f%d>1</f%d>" % (i, i) for i in range(80)) + b"</xml>",
    "body over 64 KiB": PROLOG + b"<xml>" + FIELDS + b"<attach>" + b"a" * MAX_BODY_BYTES + b"</attach></xml>",
}


def test_the_well_formed_baseline_parses():
    # the hostile cases differ from this document only by what makes them hostile
    call = adapter.parse(post(PROLOG + b"<xml>" + FIELDS + b"</xml>"))
    assert call.command.original_request_no == "SX1"


# What each refusal must say: a case cannot pass by tripping over something else.
REASONS = {
    "billion laughs": "XML 格式错误",
    "external entity": "XML 格式错误",
    "external parameter entity": "XML 格式错误",
    "doctype alone": "XML 格式错误",
    "external doctype": "XML 格式错误",
    "entity reference without a DTD": "XML 格式错误",
    "nested element": "不接受嵌套元素",
    "attribute on a field": "不接受属性",
    "attribute on the root": "不接受属性",
    "namespaced root": "根元素应为 <xml>",
    "duplicate field": "字段重复：out_trade_no",
    "processing instruction": "不接受处理指令",
    "processing instruction after the root": "不接受处理指令",
    "second xml declaration": "重复的 XML 声明",
    "root is not xml": "根元素应为 <xml>",
    "text beside the fields": "只能是字段元素",
    "truncated": "XML 格式错误",
    "empty body": "XML 格式错误",
    "not xml at all": "XML 格式错误",
    "malformed prolog": "XML 声明格式错误",
    "invalid GBK bytes": "不是合法的 GBK 编码",
    "invalid UTF-8 bytes": "不是合法的 UTF-8 编码",
    "GBK bytes declared as UTF-8": "不是合法的 UTF-8 编码",
    "declared ISO-8859-1": "编码不支持",
    "declared GB2312": "编码不支持",
    "declared UTF-16": "不是合法的 UTF-8 编码",
    "declared UTF-16 in ASCII": "编码不支持",
    "declared US-ASCII": "编码不支持",
    "BOM with GBK declared": "编码不支持",
    "too many fields": "字段过多",
    "body over 64 KiB": "请求体过大",
}
DTD_CASES = {"billion laughs", "external entity", "external parameter entity", "doctype alone", "external doctype"}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_param_errors_and_quick(name):
    started = time.perf_counter()
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(HOSTILE[name]))
    assert time.perf_counter() - started < 1.0
    assert REASONS[name] in refused.value.message
    if name in DTD_CASES:  # refused for the DTD itself, before any entity could be expanded or fetched
        assert isinstance(refused.value.__context__, DTDForbidden)


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    request = post(b"<xml></xml>")
    request.META["CONTENT_LENGTH"] = str(MAX_BODY_BYTES + 1)
    with pytest.raises(ParamError, match="64 KiB"):
        adapter.parse(request)


def test_exactly_64_kib_is_still_read():
    head = PROLOG + b"<xml>" + FIELDS + b"<attach>"
    tail = b"</attach></xml>"
    body = head + b"a" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert len(body) == MAX_BODY_BYTES
    assert adapter.parse(post(body)).command.original_request_no == "SX1"


def test_a_refusal_after_the_prolog_is_answered_in_the_declared_encoding():
    body = document([*QUERY, ("attach", "苹果")], charset="GBK").replace(b"<xml>", b"<xml><a><b/></a>")
    with pytest.raises(ParamError) as refused:
        adapter.parse(post(body))
    response = adapter.render(None, refused.value, None)
    assert response["Content-Type"] == "text/xml; charset=GBK"
    assert response.content.startswith(b'<?xml version="1.0" encoding="GBK"?>')
    assert "不接受嵌套元素".encode("gbk") in response.content
    assert b"<return_code>FAIL</return_code>" in response.content
    assert b"<err_code>PARAM_ERROR</err_code>" in response.content
