"""Strict readers for the fields of one JSON object, each refusal naming the field in Chinese.

Only the listed fields are accepted; strings are bounded and free of control characters;
integers must be JSON integers (no floats, no booleans, no numeric strings); times are RFC 3339
with an offset. ``null`` counts as absent.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from hub.errors import ParamError
from hub.gateway.base import MAX_AMOUNT_FEN, MAX_POINTS  # noqa: E402,F401 - the one bound, re-exported

CODE = re.compile(r"^[A-Za-z0-9_\-]+$")  # store and terminal codes, request numbers
RFC3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Fields:
    """One JSON object read field by field. ``where`` prefixes names in messages ("items[3].")."""

    def __init__(self, data, *, allowed: tuple[str, ...], where: str = "", what: str = "请求体"):
        if not isinstance(data, dict):
            raise ParamError(f"参数类型错误：{where.rstrip('.') or what}（应为 JSON 对象）")
        unknown = [name for name in data if name not in allowed]
        if unknown:
            raise ParamError(f"不支持的参数：{where}{unknown[0]}")
        self.data = data
        self.where = where

    def label(self, name: str) -> str:
        return f"{self.where}{name}"

    def _value(self, name: str, required: bool):
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise ParamError(f"缺少参数：{self.label(name)}")
            return None
        return value

    def text(self, name: str, *, max_len: int = 64, required: bool = True, pattern: re.Pattern | None = None) -> str:
        value = self._value(name, required)
        if value is None:
            return ""
        label = self.label(name)
        if not isinstance(value, str):
            raise ParamError(f"参数类型错误：{label}（应为字符串）")
        if len(value) > max_len:
            raise ParamError(f"参数过长：{label}（最多 {max_len} 个字符）")
        if value != value.strip() or CONTROL.search(value):
            raise ParamError(f"参数格式错误：{label}（不能含首尾空白或控制字符）")
        if pattern is not None and not pattern.match(value):
            raise ParamError(f"参数格式错误：{label}（只能含字母、数字、下划线和连字符）")
        return value

    def code(self, name: str, *, max_len: int = 64, required: bool = True) -> str:
        return self.text(name, max_len=max_len, required=required, pattern=CODE)

    def integer(self, name: str, *, minimum: int = 0, maximum: int = MAX_POINTS, required: bool = True) -> int | None:
        value = self._value(name, required)
        if value is None:
            return None
        label = self.label(name)
        if type(value) is not int:  # bool is an int subclass; Decimal is how a float arrives
            raise ParamError(f"参数类型错误：{label}（应为整数）")
        if not minimum <= value <= maximum:
            raise ParamError(f"参数超出范围：{label}（{minimum} 至 {maximum}）")
        return value

    def fen(self, name: str, *, required: bool = True) -> int | None:
        return self.integer(name, maximum=MAX_AMOUNT_FEN, required=required)

    def time(self, name: str, *, required: bool = True) -> datetime | None:
        value = self.text(name, max_len=32, required=required)
        if not value:
            return None
        try:
            if not RFC3339.match(value):
                raise ValueError(value)
            return datetime.fromisoformat(value)
        except ValueError:
            raise ParamError(f"时间格式错误：{self.label(name)}（应为 RFC 3339，带时区，如 "
                             f"2026-11-25T15:30:01+08:00）") from None

    def date(self, name: str) -> date:
        value = self.text(name, max_len=10)
        try:
            if not DATE.match(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            raise ParamError(f"日期格式错误：{self.label(name)}（应为 yyyy-MM-dd）") from None

    def obj(self, name: str, *, allowed: tuple[str, ...]) -> Fields:
        value = self._value(name, True)
        return Fields(value, allowed=allowed, where=f"{self.label(name)}.")

    def site(self, *, required: bool) -> dict:
        """store_code, terminal_code and operator: required at the till's own operations, optional
        (but checked against the merchant when given) on the ones that name an earlier request."""
        store = self.code("store_code", max_len=32, required=required)
        terminal = self.code("terminal_code", max_len=32, required=required)
        if terminal and not store:
            raise ParamError(f"缺少参数：{self.label('store_code')}（给出 terminal_code 时必填）")
        return {"store_code": store, "terminal_code": terminal,
                "operator": self.text("operator", max_len=32, required=False)}
