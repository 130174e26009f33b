from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.vendors.fangxiang import signing
from tests.hub.vendors.fangxiang.helpers import (
    HUB_PUBLIC,
    VECTOR_PARAMS,
    VECTOR_SIGN,
    VECTOR_STRING,
    VENDOR_PRIVATE,
    VENDOR_PUBLIC,
)


def test_sign_string_matches_the_contract():
    assert signing.sign_string(VECTOR_PARAMS) == VECTOR_STRING


def test_sign_and_empty_parameters_are_left_out():
    assert signing.sign_string({**VECTOR_PARAMS, "sign": "x", "notify_url": ""}) == VECTOR_STRING
    assert signing.sign_string({**VECTOR_PARAMS, "app_auth_token": "t"}) != VECTOR_STRING


def test_signature_matches_the_contract_exactly():
    assert signing.rsa_sign(VECTOR_STRING, VENDOR_PRIVATE) == VECTOR_SIGN


def test_verify_with_the_vendor_public_key():
    assert signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, VENDOR_PUBLIC)


def test_verify_refuses_changes_other_keys_and_malformed_input():
    assert not signing.rsa_verify(VECTOR_STRING.replace("128.50", "928.50"), VECTOR_SIGN, VENDOR_PUBLIC)
    tampered = ("A" if VECTOR_SIGN[0] != "A" else "B") + VECTOR_SIGN[1:]
    assert not signing.rsa_verify(VECTOR_STRING, tampered, VENDOR_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, HUB_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, "not base64!!", VENDOR_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN[:-4], VENDOR_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, "", VENDOR_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, "A" * 5000, VENDOR_PUBLIC)
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, "")
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, VENDOR_PRIVATE)
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, "公钥")
    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert not signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN, ec_public)


def test_a_plus_sent_unencoded_still_verifies():
    # form decoding turns an unencoded '+' into a space; Base64 has no spaces, so it is read back as '+'
    assert "+" in VECTOR_SIGN
    assert signing.rsa_verify(VECTOR_STRING, VECTOR_SIGN.replace("+", " "), VENDOR_PUBLIC)


def test_signatures_are_over_utf8():
    message = "sub_msg=积分余额不足"
    assert signing.rsa_verify(message, signing.rsa_sign(message, VENDOR_PRIVATE), VENDOR_PUBLIC)
    assert not signing.rsa_verify("sub_msg=积分余额不足 ", signing.rsa_sign(message, VENDOR_PRIVATE), VENDOR_PUBLIC)
