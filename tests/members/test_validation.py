import datetime as dt

import pytest

from hub.errors import ParamError
from members.validation import clean_id_number, clean_mobile, clean_name, clean_postal_no, id_check_char


@pytest.mark.parametrize(
    "value, expected",
    [
        ("11010519491231002X", "11010519491231002X"),  # the example of GB 11643-1999 itself
        ("11010519491231002x", "11010519491231002X"),  # lower-case x is normalised
        (" 360102199003070014 ", "360102199003070014"),
        ("", ""),
    ],
)
def test_valid_id_numbers(value, expected):
    assert clean_id_number(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("110105194912310021", "身份证号校验位不正确"),
        ("11010519491231002", "身份证号格式不正确（应为18位）"),
        ("1101051949123100X2", "身份证号格式不正确（应为18位）"),
        ("110105194913310028", "身份证号中的出生日期无效"),  # month 13
        ("110105180001010011", "身份证号中的出生日期无效"),  # before 1900
    ],
)
def test_invalid_id_numbers(value, message):
    with pytest.raises(ParamError) as caught:
        clean_id_number(value)
    assert caught.value.message == message


def test_birth_date_in_the_future_is_refused():
    first17 = "11010520300101001"
    with pytest.raises(ParamError, match="出生日期无效"):
        clean_id_number(first17 + id_check_char(first17), today=dt.date(2026, 1, 1))


def test_check_character_matches_the_standard_example():
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("value", ["13812345678", " 19912345678 "])
def test_valid_mobiles(value):
    assert clean_mobile(value) == value.strip()


@pytest.mark.parametrize("value", ["", "23812345678", "1381234567", "138123456789", "1381234567a", "138 1234 5678"])
def test_invalid_mobiles(value):
    with pytest.raises(ParamError):
        clean_mobile(value)


@pytest.mark.parametrize("value", ["", "12345", "ABC-123456", "邮政123456", "1" * 33])
def test_invalid_postal_numbers(value):
    with pytest.raises(ParamError):
        clean_postal_no(value)


def test_names_are_trimmed_and_must_be_printable():
    assert clean_name(" 张三 ") == "张三"
    with pytest.raises(ParamError, match="姓名不能为空"):
        clean_name("  ")
    with pytest.raises(ParamError, match="不可见字符"):
        clean_name("张\t三")
