import pytest

from hub.vendors.zhibaiwei import signing

from .helpers import APP_KEY, DATE_TIME, NONCE, SECRET, VECTOR_KEY, VECTOR_PARM_JSON

VECTOR = {"nonce": NONCE, "app_key": APP_KEY, "app_secret": SECRET, "date_time": DATE_TIME,
          "parm_json": VECTOR_PARM_JSON}


def test_contract_test_vector():
    assert signing.make_key(**VECTOR) == VECTOR_KEY


def test_key_wraps_md5_in_the_nonce_halves():
    key = signing.make_key(**VECTOR)
    assert len(key) == 40
    assert key[:4] == "a1B2" and key[-4:] == "c3D4"
    assert key[4:36] == key[4:36].upper()


def test_key_matches_only_the_exact_key():
    assert signing.key_matches(VECTOR_KEY, **VECTOR)
    assert not signing.key_matches(VECTOR_KEY.lower(), **VECTOR)
    assert not signing.key_matches(VECTOR_KEY[:-1], **VECTOR)
    assert not signing.key_matches("签名" * 20, **VECTOR)


@pytest.mark.parametrize(
    "field, value",
    [
        ("nonce", "a1B2c3D5"),
        ("app_key", "zbw_test_app2"),
        ("app_secret", "zbw-test-secret-0002"),
        ("date_time", "20261125153002"),
        ("parm_json", VECTOR_PARM_JSON.replace("128.50", "128.51")),
        ("parm_json", VECTOR_PARM_JSON.replace(",", ", ")),  # same JSON, different bytes
    ],
)
def test_every_input_is_covered(field, value):
    assert not signing.key_matches(VECTOR_KEY, **{**VECTOR, field: value})
