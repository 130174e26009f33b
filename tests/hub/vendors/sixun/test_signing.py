import hashlib

import pytest

from hub.vendors.sixun import signing
from tests.hub.vendors.sixun.helpers import SECRET, VECTOR, VECTOR_HMAC, VECTOR_MD5, VECTOR_STRING


def test_string_to_sign_matches_the_contract():
    assert signing.string_to_sign(dict(VECTOR), SECRET) == VECTOR_STRING


def test_md5_vector():
    assert signing.sign(dict(VECTOR), SECRET, "MD5") == VECTOR_MD5


def test_hmac_sha256_vector():
    fields = {**dict(VECTOR), "sign_type": "HMAC-SHA256"}
    assert signing.sign(fields, SECRET, "HMAC-SHA256") == VECTOR_HMAC


def test_sign_and_empty_fields_are_left_out_but_unknown_fields_are_signed():
    fields = dict(VECTOR)
    assert signing.sign({**fields, "sign": "X", "attach": ""}, SECRET) == VECTOR_MD5
    assert signing.sign({**fields, "attach": "a"}, SECRET) != VECTOR_MD5


def test_verify_accepts_either_case_and_refuses_changes():
    fields = dict(VECTOR)
    assert signing.verify(fields, SECRET, VECTOR_MD5, "MD5")
    assert signing.verify(fields, SECRET, VECTOR_MD5.lower(), "MD5")
    assert not signing.verify({**fields, "total_fee": "12851"}, SECRET, VECTOR_MD5, "MD5")
    assert not signing.verify(fields, "another-secret", VECTOR_MD5, "MD5")
    assert not signing.verify(fields, SECRET, VECTOR_MD5, "HMAC-SHA256")
    assert not signing.verify(fields, SECRET, "", "MD5")
    assert not signing.verify(fields, SECRET, "签名", "MD5")


def test_unknown_sign_type_is_refused():
    with pytest.raises(ValueError):
        signing.sign(dict(VECTOR), SECRET, "SHA1")
    assert not signing.verify(dict(VECTOR), SECRET, VECTOR_MD5, "SHA1")


def test_gbk_documents_are_signed_over_gbk_bytes():
    fields = {**dict(VECTOR), "attach": "苹果两斤"}
    gbk = signing.sign(fields, SECRET, encoding="gbk")
    utf8 = signing.sign(fields, SECRET, encoding="utf-8")
    assert gbk != utf8
    expected = hashlib.md5(signing.string_to_sign(fields, SECRET).encode("gbk")).hexdigest().upper()
    assert gbk == expected


def test_sign_type_of_a_response_signature():
    assert signing.sign_type_of(VECTOR_MD5) == "MD5"
    assert signing.sign_type_of(VECTOR_HMAC) == "HMAC-SHA256"
    assert signing.sign_type_of("ABC") is None
