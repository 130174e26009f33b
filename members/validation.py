"""Pure checks and normalisation of member input; each raises ``ParamError`` with a Chinese message.

Shared by the services (the authority), the admin forms (for field-level errors) and the CSV
import (for per-line reasons), so all three say the same thing about the same input.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from hub.errors import ParamError

# ASCII digits only ([0-9], never \d, which also matches full-width and other scripts' digits);
# input is NFKC-normalised first, so a full-width "１３８…" is read as the ASCII "138…" and gets
# the same blind index, while "٣" or "²" stay what they are and are refused.
MOBILE_RE = re.compile(r"^1[0-9]{10}$")
POSTAL_NO_RE = re.compile(r"^[0-9A-Za-z]{6,32}$")
ID_NUMBER_RE = re.compile(r"^[0-9]{17}[0-9X]$")
EXTERNAL_ID_MAX = 64
NAME_MAX = 64
REASON_MAX = 200
REASON_MIN = 2  # letters, digits or characters; "1" or "." says nothing about why

# What the hub says when a value is already taken (services, admin forms and the import agree).
DUPLICATE_POSTAL_NO = "邮政会员号已存在"
DUPLICATE_MOBILE = "手机号已被其他会员使用"
EXTERNAL_ID_TAKEN = "该会员卡号已绑定其他会员"
MEMBER_ALREADY_LINKED = "该会员已绑定此商户的其他会员卡号"

# GB 11643-1999: weights of the first 17 digits, and the check character for (sum mod 11).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def nfkc(value: str | None) -> str:
    """NFKC-normalised and stripped: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", value or "").strip()


_SEPARATORS_RE = re.compile(r"[\s\-()]")


def pii_search_candidate(value: str | None) -> str:
    """A search term as a mobile or ID number would be typed: normalised, separators removed and
    a ``+86`` / ``0086`` / ``86`` country prefix of a mobile dropped (``+86 139 1234 5678`` →
    ``13912345678``). Only for recognising a lookup; the result still goes through the checks."""
    value = _SEPARATORS_RE.sub("", nfkc(value))
    for prefix in ("+86", "0086", "86"):
        if value.startswith(prefix) and len(value) == len(prefix) + 11 and value[len(prefix)] == "1":
            return value[len(prefix):]
    return value


def clean_postal_no(value: str | None) -> str:
    value = nfkc(value)
    if not value:
        raise ParamError("邮政会员号不能为空")
    if not POSTAL_NO_RE.match(value):
        raise ParamError("邮政会员号格式不正确（应为6至32位数字或字母）")
    return value


def clean_name(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise ParamError("姓名不能为空")
    if len(value) > NAME_MAX:
        raise ParamError(f"姓名过长（最多{NAME_MAX}个字符）")
    if not value.isprintable():
        raise ParamError("姓名包含不可见字符")
    return value


def clean_mobile(value: str | None) -> str:
    value = nfkc(value)
    if not value:
        raise ParamError("手机号不能为空")
    if not MOBILE_RE.match(value):
        raise ParamError("手机号格式不正确（应为1开头的11位数字）")
    return value


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def clean_id_number(value: str | None, *, today: dt.date | None = None) -> str:
    """An 18-character resident ID number with a valid birth date and check character, or ""."""
    value = nfkc(value).upper()
    if not value:
        return ""
    if len(value) != 18 or not ID_NUMBER_RE.match(value):
        raise ParamError("身份证号格式不正确（应为18位）")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ParamError("身份证号中的出生日期无效") from None
    if born.year < 1900 or born > (today or dt.date.today()):
        raise ParamError("身份证号中的出生日期无效")
    if id_check_char(value[:17]) != value[17]:
        raise ParamError("身份证号校验位不正确")
    return value


def clean_external_id(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise ParamError("商户会员卡号不能为空")
    if len(value) > EXTERNAL_ID_MAX or not value.isprintable():
        raise ParamError(f"商户会员卡号格式不正确（最多{EXTERNAL_ID_MAX}个可见字符）")
    return value


def clean_reason(value: str | None, *, what: str = "原因", min_length: int = 1) -> str:
    """A free-text reason. ``min_length`` counts letters, digits and Chinese characters only
    (punctuation and spaces do not make a reason)."""
    value = (value or "").strip()
    if not value:
        raise ParamError(f"请填写{what}")
    if len(value) > REASON_MAX:
        raise ParamError(f"{what}过长（最多{REASON_MAX}个字符）")
    if sum(1 for char in value if char.isalnum()) < min_length:
        raise ParamError(f"{what}过短，请具体说明（至少{min_length}个字）")
    return value
