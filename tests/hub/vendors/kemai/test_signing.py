import itertools

import pytest

from hub.vendors.kemai import signing

from .helpers import NONCE, RESPONSE_VECTOR, SECRET, TIMESTAMP, VECTOR_BODY, VECTOR_SIGNATURE, header

REQUEST = {"method": "POST", "path": "/gateway/kemai/v1/points/earn", "timestamp": TIMESTAMP, "nonce": NONCE,
           "body": VECTOR_BODY}


def test_request_signature_test_vector():
    assert signing.request_signature(SECRET, **REQUEST) == VECTOR_SIGNATURE


def test_response_signature_test_vector():
    vector = RESPONSE_VECTOR
    assert signing.response_signature(SECRET, timestamp=vector["timestamp"], nonce=vector["nonce"],
                                      body=vector["body"]) == vector["signature"]


@pytest.mark.parametrize(
    "field, value",
    [("method", "GET"), ("path", "/gateway/kemai/v1/points/redeem"), ("path", "/gateway/kemai/v1/points/earn?a=1"),
     ("timestamp", "1764055802"), ("nonce", NONCE.lower()), ("body", VECTOR_BODY + b" ")],
)
def test_every_part_of_the_request_is_signed(field, value):
    assert signing.request_signature(SECRET, **{**REQUEST, field: value}) != VECTOR_SIGNATURE


def test_same_is_exact():
    assert signing.same(VECTOR_SIGNATURE, VECTOR_SIGNATURE)
    assert not signing.same(VECTOR_SIGNATURE, VECTOR_SIGNATURE[:-2] + "A=")
    assert not signing.same(VECTOR_SIGNATURE, "签名")


@pytest.mark.parametrize("order", list(itertools.permutations(("appid", "nonce_str", "timestamp", "signature"))))
def test_authorization_items_in_any_order(order):
    assert signing.parse_authorization(header(VECTOR_SIGNATURE, order=order)) == {
        "appid": "km_test_app", "nonce_str": NONCE, "timestamp": TIMESTAMP, "signature": VECTOR_SIGNATURE}


def test_authorization_header_builder_matches_the_contract_layout():
    built = signing.authorization_header(appid="km_test_app", nonce=NONCE, timestamp=TIMESTAMP,
                                         signature=VECTOR_SIGNATURE)
    assert built == (f'KEMAI-HMAC-SHA256 appid="km_test_app",nonce_str="{NONCE}",timestamp="{TIMESTAMP}",'
                     f'signature="{VECTOR_SIGNATURE}"')


def test_spaces_around_items_are_tolerated():
    value = 'KEMAI-HMAC-SHA256  appid="a", nonce_str="n" ,timestamp="1",  signature="s"'
    assert signing.parse_authorization(value) == {"appid": "a", "nonce_str": "n", "timestamp": "1", "signature": "s"}


@pytest.mark.parametrize(
    "value",
    [
        'WECHATPAY2-SHA256-RSA2048 appid="a",nonce_str="n",timestamp="1",signature="s"',
        'kemai-hmac-sha256 appid="a",nonce_str="n",timestamp="1",signature="s"',
        "KEMAI-HMAC-SHA256",
        'KEMAI-HMAC-SHA256 appid="a",appid="b",nonce_str="n",timestamp="1",signature="s"',
        'KEMAI-HMAC-SHA256 appid=a,nonce_str="n",timestamp="1",signature="s"',
        'KEMAI-HMAC-SHA256 appid="a";nonce_str="n"',
        'KEMAI-HMAC-SHA256 appid="a",,signature="s"',
    ],
)
def test_malformed_authorization_is_not_ours(value):
    assert signing.parse_authorization(value) is None
