"""Races on PostgreSQL with real threads: the database constraint decides, nothing leaks."""

import threading

import pytest
from django.db import connection

from hub.errors import ParamError
from members import services
from members.models import Member, VendorMemberLink
from tests.members.factories import MemberFactory, MerchantFactory, tier

THREADS = 4


def _race(calls):
    """Run the callables at the same moment, one thread each; return their results/errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _assert_one_link_won(results, members, merchant):
    wins = [r for r in results if isinstance(r, VendorMemberLink)]
    losses = [r for r in results if isinstance(r, ParamError)]
    assert len(wins) == 1, results
    assert len(losses) == len(results) - 1, results
    assert {e.message for e in losses} == {"该会员卡号已绑定其他会员"}
    stored = VendorMemberLink.objects.get(merchant=merchant, external_id="CARD-RACE")
    assert stored.pk == wins[0].pk and stored.member in members
    assert VendorMemberLink.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_links_of_the_same_external_id_one_wins():
    merchant = MerchantFactory()
    members = [MemberFactory() for _ in range(THREADS)]
    calls = [
        (lambda m=m: services.link_member(member=m, merchant=merchant, external_id="CARD-RACE", method="sms"))
        for m in members
    ]
    _assert_one_link_won(_race(calls), members, merchant)


@pytest.mark.django_db(transaction=True)
def test_concurrent_links_past_the_precheck_one_wins(monkeypatch):
    """Every thread passes the pre-check (as when they read before any of them commits): only the
    partial unique index stands between them, and the losers still get the clear error."""
    merchant = MerchantFactory()
    members = [MemberFactory() for _ in range(THREADS)]
    monkeypatch.setattr(services, "link_conflict", lambda **kwargs: None)
    monkeypatch.setattr(services, "active_link", lambda **kwargs: None)
    calls = [
        (lambda m=m: services.link_member(member=m, merchant=merchant, external_id="CARD-RACE", method="sms"))
        for m in members
    ]
    _assert_one_link_won(_race(calls), members, merchant)


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_the_same_mobile_one_wins(monkeypatch):
    standard = tier("standard")
    monkeypatch.setattr(services, "_member_conflict", lambda **kwargs: None)
    calls = [
        (lambda i=i: services.register_member(postal_no=f"RACE{i:06d}", name="抢注", mobile="13812340000", tier=standard))
        for i in range(THREADS)
    ]
    results = _race(calls)
    assert sum(isinstance(r, Member) for r in results) == 1, results
    assert {r.message for r in results if not isinstance(r, Member)} == {"手机号已被其他会员使用"}
    assert Member.objects.filter(postal_no__startswith="RACE").count() == 1
