"""Issue 15, finding 22: production refuses an empty or malformed FIELD_ENCRYPTION_KEYS at start
(not at the first read of personal data), and checks every key of a blind-index ring."""

import pytest
from cryptography.fernet import Fernet

from tests.hub.test_settings import GOOD, start


@pytest.mark.parametrize(
    "value, problem",
    [
        ("", "FIELD_ENCRYPTION_KEYS is empty"),
        (" , ", "FIELD_ENCRYPTION_KEYS is empty"),
        ("not-a-fernet-key", "not a Fernet key"),
        (f"{Fernet.generate_key().decode()},c2hvcnQ=", "not a Fernet key"),  # an old key cut short
    ],
)
def test_refuses_an_empty_or_malformed_field_key_ring(value, problem):
    result = start({**GOOD, "FIELD_ENCRYPTION_KEYS": value})
    assert result.returncode == 3, result.stdout + result.stderr
    assert problem in result.stdout


def test_a_ring_of_good_field_keys_starts():
    ring = f"{Fernet.generate_key().decode()},{GOOD['FIELD_ENCRYPTION_KEYS']}"
    result = start({**GOOD, "FIELD_ENCRYPTION_KEYS": ring})
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_blind_index_key_ring_replaces_the_single_key():
    env = {k: v for k, v in GOOD.items() if k != "BLIND_INDEX_KEY"}
    ring = "n" * 40 + "," + "o" * 40
    assert start({**env, "BLIND_INDEX_KEYS": ring}).returncode == 0
    refused = start({**env, "BLIND_INDEX_KEYS": "n" * 40 + ",short"})
    assert refused.returncode == 3 and "BLIND_INDEX_KEYS" in refused.stdout
