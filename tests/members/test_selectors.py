"""Finding members by credential: mobile (blind index), postal number, a merchant's card."""

import pytest

from hub.errors import MemberNotFound, ParamError
from members import services
from members.models import Member
from members.selectors import find_member, get_member_by_credential
from tests.members.factories import LinkFactory, MemberFactory, MerchantFactory


@pytest.mark.django_db
def test_find_by_mobile_uses_the_blind_index(member):
    MemberFactory()
    assert find_member(mobile=member.mobile) == member
    assert find_member(mobile=f" {member.mobile} ") == member
    assert find_member(mobile="13000000000") is None


@pytest.mark.django_db
def test_find_by_mobile_queries_the_index_not_the_value(member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        find_member(mobile=member.mobile)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert member.mobile_index in sql and member.mobile not in sql


@pytest.mark.django_db
def test_find_by_postal_number(member):
    assert find_member(postal_no=member.postal_no) == member
    assert find_member(postal_no="NOSUCH123") is None


@pytest.mark.django_db
def test_find_by_external_id_follows_only_active_links():
    link = LinkFactory(external_id="CARD-77")
    assert find_member(merchant=link.merchant, external_id="CARD-77") == link.member
    assert find_member(merchant=MerchantFactory(), external_id="CARD-77") is None
    services.unlink_member(link=link, reason="换卡")
    assert find_member(merchant=link.merchant, external_id="CARD-77") is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mobile": "13800000000", "postal_no": "PM00000001"}, {"external_id": "CARD-1"}, {"mobile": "12345"}],
)
def test_find_needs_exactly_one_well_formed_credential(kwargs):
    with pytest.raises(ParamError):
        find_member(**kwargs)


@pytest.mark.django_db
def test_get_member_by_credential_raises_member_not_found(member):
    assert get_member_by_credential(mobile=member.mobile) == member
    with pytest.raises(MemberNotFound):
        get_member_by_credential(mobile="13000000000")
    services.update_member(member=member, status=Member.Status.CLOSED)
    with pytest.raises(MemberNotFound):
        get_member_by_credential(postal_no=member.postal_no)
