import pytest

# A sixth till dialect defined only in the test suite (tests/hub/gateway/toy.py): registered here
# and nowhere else, so every registry-driven part of the hub and of the suites must cope with it.
TOY_ADAPTER = "tests.hub.gateway.toy.ToyAdapter"


def pytest_configure(config):
    from django.conf import settings

    settings.HUB_TILL_ADAPTERS = {**settings.HUB_TILL_ADAPTERS, "toy": TOY_ADAPTER}


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
