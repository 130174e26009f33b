"""A storm: 200 signed-in members claim a right with 10 left, over real HTTP against a live server
(50 connections at once, released together): exactly 10 vouchers, the rest QUOTA_EXHAUSTED. A
connection the test server's short accept queue resets is retried with the same request number,
as a client does (the claim is idempotent by it)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from hub.models import Merchant
from members import services as member_services
from members.models import Tier
from rights import catalogue
from rights.demo import _checker
from rights.models import Right, Voucher

MEMBERS = 200
LEFT = 10
CONNECTIONS = 50


@pytest.mark.slow
def test_two_hundred_members_claim_ten_left(live_api, settings):
    settings.MINIPROGRAM_RATE_LIMITS = {"login": (None, 10_000), "phone": (100, 10_000), "claim": (100, 10_000)}
    standard = Tier.objects.get(code="standard")
    for n in range(MEMBERS):
        member_services.register_member(postal_no=f"JXSTORM{n:05d}", name="风暴", mobile=f"1390000{n:04d}",
                                        tier=standard)
    issuer = Merchant.objects.get(code="CPJX")
    right = catalogue.create_right(code="STORM10", name="限量 10 张", kind=Right.Kind.AMOUNT_OFF, funder=issuer,
                                   providers=[Merchant.objects.get(code="SBX_HUB")], off_fen=500, settlement_fen=500,
                                   valid_days=7, total_limit=LEFT)
    catalogue.submit_for_review(right=right, actor=None)
    catalogue.approve_right(right=right, actor=_checker())

    def sign_in(n: int) -> str:
        user = live_api()
        user.login(f"storm{n}")
        assert user.bind(f"1390000{n:04d}").status == 200
        return user.token

    tokens = [sign_in(n) for n in range(MEMBERS)]

    gate = threading.Barrier(CONNECTIONS)
    url = f"{live_api.url}/api/mp/v1/rights/{right.pk}/claim"

    def claims(worker: int) -> list[tuple[int, str]]:
        gate.wait()
        out = []
        for token in tokens[worker::CONNECTIONS]:
            for attempt in range(10):
                try:
                    response = requests.post(url, json={"request_no": "STORM-1"}, timeout=60,
                                             headers={"Authorization": f"Bearer {token}", "Connection": "close"})
                    break
                except requests.ConnectionError:  # the test server's short accept queue overflowed:
                    time.sleep(0.05 * (attempt + 1))  # retry as a client does, same request number
            out.append((response.status_code, response.json()["code"]))
        return out

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        answers = [a for part in pool.map(claims, range(CONNECTIONS)) for a in part]

    assert len(answers) == MEMBERS
    assert sorted(set(answers)) == [(200, "SUCCESS"), (422, "QUOTA_EXHAUSTED")]
    assert answers.count((200, "SUCCESS")) == LEFT
    assert Voucher.objects.filter(right=right).count() == LEFT
    assert len(set(Voucher.objects.filter(right=right).values_list("member_id", flat=True))) == LEFT
