"""hub.gateway.jsonio.loads_object and the native dialect's text fields: what they refuse, at the
level of single characters (the surrogate pre-check and the control-character search must refuse
exactly what the full walks refused)."""

from __future__ import annotations

import pytest

from hub.errors import ParamError
from hub.gateway.jsonio import loads_object
from hub.vendors.native.fields import Fields


@pytest.mark.parametrize(("raw", "accepted"), [
    (b'{"a":"\\ud800"}', False),  # a lone high surrogate escape
    (b'{"a":[{"b":"\\uDFFF"}]}', False),  # a lone low one, upper case, nested
    (b'{"\\udc00":1}', False),  # in a key
    ('{"a":"\ud800"}', False),  # a str handed in with a literal surrogate
    (b'{"a":"\\uD83D\\uDE00"}', True),  # a pair: one character (an emoji)
    (b'{"a":"\\\\ud800"}', True),  # an escaped backslash, then the letters "ud800"
    (b'{"a":"\\u00e9\\u79ef"}', True),  # other escapes
    (b'{"a":"\xe7\xa7\xaf\xe5\x88\x86"}', True),
])
def test_lone_surrogates_are_refused_and_nothing_else(raw, accepted):
    if accepted:
        assert isinstance(loads_object(raw), dict)
    else:
        with pytest.raises(ParamError, match="无效的 Unicode"):
            loads_object(raw)


@pytest.mark.parametrize(("value", "accepted"), [
    ("a\x00b", False), ("a\x1fb", False), ("a\tb", False), ("a\x7fb", False),
    ("a\x80b", True), ("积分 A-1", True), ("~", True),
])
def test_text_fields_refuse_control_characters_only(value, accepted):
    fields = Fields({"x": value}, allowed=("x",))
    if accepted:
        assert fields.text("x") == value
    else:
        with pytest.raises(ParamError, match="控制字符"):
            fields.text("x")
