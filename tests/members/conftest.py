import pytest

from tests.members.factories import MemberFactory, MerchantFactory, tier


@pytest.fixture
def standard(db):
    return tier("standard")


@pytest.fixture
def gold(db):
    return tier("gold")


@pytest.fixture
def merchant(db):
    return MerchantFactory()


@pytest.fixture
def member(db):
    return MemberFactory()
