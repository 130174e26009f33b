"""Scenic-spot gates: online verify (and its retry), offline Ed25519 tickets verified with the
published key alone, revocations, the upload of offline scans (a double scan becomes an
exception for operations), what a weak caller can reach, and a 50-way race of one voucher."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from hub.errors import DomainError, NoAuth, ParamError
from hub.models import Merchant, Store, Terminal
from rights import gates, redemption, references, tickets, vouchers
from rights.checks import check_rights
from rights.models import Gate, GateCheck, GateException, Redemption, Right, RightsFunding, Voucher
from tests.rights.conftest import build_world
from tests.threads import race

_seq = itertools.count(1)


class Spot:
    def __init__(self, world, *, code: str | None = None):
        n = next(_seq)
        self.world = world
        self.merchant = Merchant.objects.create(code=code or f"SPOT{n}", name="梅岭景区", scene=Merchant.Scene.OTHER)
        self.store = Store.objects.create(merchant=self.merchant, code="E1", name="东门")
        self.gates = [Gate.objects.create(merchant=self.merchant, code=f"G{k}", name=f"{k} 号闸机",
                                          terminal=Terminal.objects.create(store=self.store, code=f"G{k}"))
                      for k in (1, 2)]
        self.right = world.right(kind=Right.Kind.SCENIC_TICKET, name="景区门票（2 人）", off_fen=None, threshold_fen=None,
                                 people=2, settlement_fen=6000, providers=[self.merchant])

    def voucher(self, member=None) -> Voucher:
        return vouchers.claim(member=member or self.world.member(), right=self.right, request_no=f"C{next(_seq)}")


@pytest.fixture
def spot(world):
    return Spot(world)


def display(voucher) -> str:
    return vouchers.issue_display_code(voucher=voucher)[0]


def refused(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


# ---- online ----------------------------------------------------------------------------------

def test_verify_admits_and_a_retry_answers_the_same(spot):
    voucher = spot.voucher()
    code = display(voucher)
    first = gates.verify(merchant=spot.merchant, gate_code="G1", request_no="V1", code=code, people=2)
    assert first["status"] == "ADMITTED" and first["people"] == 2 and first["right_name"] == "景区门票（2 人）"
    assert first["valid_day"] == timezone.localdate().isoformat()
    assert gates.verify(merchant=spot.merchant, gate_code="G1", request_no="V1", code=code, people=2) == first
    use = Redemption.objects.get(merchant=spot.merchant, request_no="V1")
    assert (use.status, use.terminal_id, use.voucher_id) == ("success", spot.gates[0].terminal_id, voucher.pk)
    assert Voucher.objects.get(pk=voucher.pk).state == "used"
    assert RightsFunding.objects.get(redemption=use).amount_fen == 6000
    # another request: used, saying when and at which gate — and its retry says the same
    again = refused(lambda: gates.verify(merchant=spot.merchant, gate_code="G2", request_no="V2",
                                         code=references.voucher_reference(voucher, spot.merchant)))
    assert again.code == "VOUCHER_USED" and again.detail["reason"] == "used"
    assert (again.detail["used_gate_id"], again.detail["used_gate_name"]) == ("G1", "1 号闸机")
    assert again.detail["used_at"].endswith("+08:00")
    retry = refused(lambda: gates.verify(merchant=spot.merchant, gate_code="G2", request_no="V2",
                                         code=references.voucher_reference(voucher, spot.merchant)))
    assert (retry.code, retry.message, retry.detail) == (again.code, again.message, again.detail)
    # the same number with other content
    assert refused(lambda: gates.verify(merchant=spot.merchant, gate_code="G1", request_no="V1", code=code,
                                        people=1)).code == "IDEMPOTENCY_KEY_REUSED"
    assert check_rights() == {}


def test_verify_refusals_name_their_reason_and_write_nothing(spot, world):
    now = timezone.now()

    def reason(code, *, people=1, at=None, request_no=None):
        error = refused(lambda: gates.verify(merchant=spot.merchant, gate_code="G1",
                                             request_no=request_no or f"R{next(_seq)}", code=code, people=people,
                                             now=at))
        return error.code, error.detail["reason"]

    assert reason("970000000000000000") == ("VOUCHER_NOT_FOUND", "not_found")
    assert reason("V" + "0" * 26) == ("VOUCHER_NOT_FOUND", "not_found")
    expiring = spot.voucher()
    assert reason(references.voucher_reference(expiring, spot.merchant), at=expiring.expires_at) == \
        ("VOUCHER_EXPIRED", "expired")
    assert reason(references.voucher_reference(spot.voucher(), spot.merchant), people=3) == \
        ("RIGHT_NOT_APPLICABLE", "too_many_people")
    later = world.right(kind=Right.Kind.SCENIC_TICKET, off_fen=None, threshold_fen=None, people=1, settlement_fen=0,
                        providers=[spot.merchant], valid_days=None, valid_from=now + timedelta(days=3),
                        valid_until=now + timedelta(days=10))
    pending = vouchers.claim(member=world.member(), right=later, request_no="P1")
    assert reason(references.voucher_reference(pending, spot.merchant)) == ("RIGHT_NOT_APPLICABLE", "not_yet_valid")
    other = Spot(world)
    foreign = other.voucher()
    assert reason(display(foreign)) == ("RIGHT_NOT_APPLICABLE", "wrong_site")
    assert reason(tickets.issue_offline_ticket(voucher=foreign)) == ("RIGHT_NOT_APPLICABLE", "wrong_site")
    assert reason(references.voucher_reference(foreign, spot.merchant)) == ("RIGHT_NOT_APPLICABLE", "wrong_site")
    gone = spot.voucher()
    vouchers.deactivate(voucher=gone, actor=world.maker, reason="测试作废")
    assert reason(references.voucher_reference(gone, spot.merchant)) == ("VOUCHER_EXPIRED", "deactivated")
    held = spot.voucher()
    held_code = display(held)
    gates.hold_for_refund(voucher=held, actor=world.maker, reason="会员申请退票")
    assert reason(held_code) == ("VOUCHER_EXPIRED", "refund_in_progress")
    coupon = vouchers.claim(member=world.member(), right=world.right(providers=[spot.merchant]), request_no="K1")
    assert reason(references.voucher_reference(coupon, spot.merchant)) == ("RIGHT_NOT_APPLICABLE", "not_a_ticket")
    assert not Redemption.objects.filter(merchant=spot.merchant, status="success").exists()
    assert Voucher.objects.get(pk=foreign.pk).state == "available"
    # the refund hold ends: cancelled, the ticket works again (the display code was not used up)
    gates.end_refund_hold(voucher=held, actor=world.maker, refunded=False)
    assert gates.verify(merchant=spot.merchant, gate_code="G1", request_no="H1", code=held_code)["status"] == "ADMITTED"


def test_bad_input_is_refused_unrecorded(spot):
    for kwargs in ({"people": 0}, {"people": True}, {"request_no": ""}, {"code": ""}, {"request_no": "x" * 65}):
        call = {"merchant": spot.merchant, "gate_code": "G1", "request_no": "B1", "code": "970000000000000000",
                "people": 1, **kwargs}
        assert refused(lambda call=call: gates.verify(**call)).code == "PARAM_ERROR"
    assert not GateCheck.objects.exists()


def test_a_gate_reaches_only_its_own_merchant(spot, world):
    voucher = spot.voucher()
    # the supermarket (another merchant, another credential) cannot use this spot's gate
    with pytest.raises(NoAuth):
        gates.verify(merchant=world.shop, gate_code="G1", request_no="W1", code=display(voucher))
    Gate.objects.filter(pk=spot.gates[1].pk).update(active=False)
    with pytest.raises(NoAuth):
        gates.verify(merchant=spot.merchant, gate_code="G2", request_no="W2", code=display(voucher))
    assert Voucher.objects.get(pk=voucher.pk).state == "available"


# ---- offline tickets -----------------------------------------------------------------------------

def published() -> dict:
    return {item["kid"]: item["public_key"] for item in gates.keys()["keys"]}


def test_an_offline_ticket_verifies_with_only_the_published_key(spot):
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    prefix, body, signature = token.split(".")
    assert prefix == "LBQ2"
    payload = tickets.verify_ticket(token, published())
    assert payload == {"v": 1, "voucher": references.voucher_reference(voucher, spot.merchant),
                       "right": spot.right.code, "site": spot.merchant.code,
                       "valid_from": int(voucher.valid_from.timestamp()),
                       "valid_to": int(voucher.expires_at.timestamp()), "people": 2, "kid": "sbx1"}
    # Nothing in the signed body names the member: every value is one of the fields above (a
    # substring test on the member's id failed when the id happened to be part of a timestamp).
    member = voucher.member
    assert all(value not in (member.pk, str(member.pk), member.postal_no)
               for value in json.loads(tickets.unb64url(body)).values())


def test_a_tampered_or_foreign_ticket_is_refused(spot):
    token = tickets.issue_offline_ticket(voucher=spot.voucher())
    prefix, body, signature = token.split(".")
    payload = tickets.verify_ticket(token, published())
    more = tickets.b64url(tickets._payload_bytes({**payload, "people": 9}))
    forger = Ed25519PrivateKey.generate()
    forged = tickets.b64url(forger.sign(f"LBQ2.{body}".encode()))
    other_kid = tickets.b64url(tickets._payload_bytes({**payload, "kid": "evil"}))
    for bad in (f"{prefix}.{more}.{signature}", f"{prefix}.{body}.{forged}", f"LBQ1.{body}.{signature}",
                f"{prefix}.{other_kid}.{signature}", token[:-2], token + "A", "LBQ2..", "", None):
        with pytest.raises(tickets.TicketInvalid):
            tickets.verify_ticket(bad, published())
    # a gate holding another hub's key refuses the real ticket too
    stranger = {"sbx1": forger.public_key()}
    with pytest.raises(tickets.TicketInvalid):
        tickets.verify_ticket(token, stranger)


def test_a_revoked_ticket_is_refused_once_the_gate_has_the_revocation_list(spot, world):
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    before = timezone.now()
    gate = tickets.OfflineGate(site=spot.merchant.code, keys=published())
    gate.learn_revocations(gates.revocations(merchant=spot.merchant, since=before)["items"])
    assert gate.revoked == set()
    vouchers.deactivate(voucher=voucher, actor=world.maker, reason="会员退票")
    held = spot.voucher()
    held_token = tickets.issue_offline_ticket(voucher=held)
    gates.hold_for_refund(voucher=held, reason="退票处理中")
    listed = gates.revocations(merchant=spot.merchant, since=before)
    assert {(i["voucher"], i["reason"]) for i in listed["items"]} == {
        (references.voucher_reference(voucher, spot.merchant), "deactivated"),
        (references.voucher_reference(held, spot.merchant), "refund_in_progress")}
    assert gates.revocations(merchant=world.shop, since=before)["items"] == []  # only the spot's own
    now = timezone.now()
    gate.learn_revocations(listed["items"])
    assert gate.admit(token, people=2, scan_no="S1", now=now) == (False, "revoked")
    assert gate.admit(held_token, people=1, scan_no="S2", now=now) == (False, "revoked")
    assert gate.queue == []


def test_uploaded_scans_land_and_a_double_scan_becomes_an_exception(spot, world):
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    east = tickets.OfflineGate(site=spot.merchant.code, keys=published())
    west = tickets.OfflineGate(site=spot.merchant.code, keys=published())
    at = timezone.now() + timedelta(seconds=1)  # the gate's clock (claimed just now)
    assert east.admit(token, people=2, scan_no="E-0001", now=at) == (True, "admitted")
    assert east.admit(token, people=2, scan_no="E-0002", now=at) == (False, "used")  # its own used-set
    assert west.admit(token, people=1, scan_no="W-0001", now=at + timedelta(seconds=2)) == (True, "admitted")

    def upload(gate_code, queue):
        scans = [{**scan, "scanned_at": timezone.datetime.fromisoformat(scan["scanned_at"])} for scan in queue]
        return gates.upload_scans(merchant=spot.merchant, gate_code=gate_code, scans=scans)

    landed = upload("G1", east.queue)["items"]
    assert landed[0]["code"] == "SUCCESS" and landed[0]["data"]["status"] == "WRITTEN_OFF"
    use = Redemption.objects.get(merchant=spot.merchant, request_no="E-0001")
    assert use.status == "success" and use.created_at == at  # dated at the gate's scan time
    second = upload("G2", west.queue)["items"]
    assert second[0]["data"] == {"scan_no": "W-0001", "status": "EXCEPTION", "kind": "double_use", "reason": "used"}
    exception = GateException.objects.get()
    assert (exception.kind, exception.status, exception.first_use_id, exception.voucher_id) == \
        ("double_use", "open", use.pk, voucher.pk)
    assert exception.scan.gate.code == "G2"
    # uploading again (after a timeout) answers the same and adds nothing
    assert upload("G1", east.queue)["items"] == landed and upload("G2", west.queue)["items"] == second
    assert GateException.objects.count() == 1 and GateCheck.objects.count() == 2
    # the same scan number with other content
    changed = [{**west.queue[0], "people": 2, "scanned_at": at}]
    assert gates.upload_scans(merchant=spot.merchant, gate_code="G2", scans=changed)["items"][0]["code"] == \
        "IDEMPOTENCY_KEY_REUSED"
    # operations resolve it, once, with a note
    with pytest.raises(ParamError):
        gates.resolve_exception(exception=exception, actor=world.checker, resolution="waived", note="")
    done = gates.resolve_exception(exception=exception, actor=world.checker, resolution="waived", note="同一家庭重复刷票")
    assert (done.status, done.resolved_by_id) == ("resolved", world.checker.pk)
    with pytest.raises(ParamError):
        gates.resolve_exception(exception=exception, actor=world.checker, resolution="waived", note="再次")
    assert Redemption.objects.filter(voucher=voucher, status="success").count() == 1
    assert check_rights() == {}


def test_an_offline_scan_of_a_ticket_used_online_or_bad_is_kept_as_an_exception(spot):
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    gates.verify(merchant=spot.merchant, gate_code="G1", request_no="ON1", code=display(voucher))
    now = timezone.now()
    body, sig = token.split(".")[1:]
    scans = [{"scan_no": "S1", "ticket": token, "people": 2, "scanned_at": now},
             {"scan_no": "S2", "ticket": f"LBQ2.{body}.{sig[:-4]}AAAA", "people": 1, "scanned_at": now},
             {"scan_no": "S3", "ticket": token, "people": 1, "scanned_at": now + timedelta(hours=1)},
             {"scan_no": "S4", "ticket": token, "people": 1, "scanned_at": now - timedelta(days=30)}]
    items = gates.upload_scans(merchant=spot.merchant, gate_code="G2", scans=scans)["items"]
    assert [(i["code"], i["data"].get("kind")) for i in items] == [
        ("SUCCESS", "double_use"), ("SUCCESS", "invalid"), ("PARAM_ERROR", None), ("PARAM_ERROR", None)]
    assert set(GateException.objects.values_list("scan__request_no", "kind")) == {("S1", "double_use"),
                                                                                  ("S2", "invalid")}


def test_an_offline_scan_is_written_off_at_its_scan_time_even_after_expiry(spot):
    voucher = spot.voucher()
    token = tickets.issue_offline_ticket(voucher=voucher)
    last_minute = voucher.expires_at - timedelta(seconds=1)
    after = voucher.expires_at + timedelta(hours=9)
    items = gates.upload_scans(merchant=spot.merchant, gate_code="G1", now=after, scans=[
        {"scan_no": "L1", "ticket": token, "people": 2, "scanned_at": last_minute}])["items"]
    assert items[0]["data"]["status"] == "WRITTEN_OFF"


# ---- one voucher, 5 tills and 2 gates at once ---------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_write_offs_at_five_tills_and_two_gates_give_exactly_one():
    world = build_world()
    spot = Spot(world)
    counter = Store.objects.create(merchant=spot.merchant, code="T1", name="售票处")
    tills = [Terminal.objects.create(store=counter, code=f"P{k}") for k in range(5)]
    voucher = spot.voucher()
    ticket = tickets.issue_offline_ticket(voucher=voucher)
    ref = references.voucher_reference(voucher, spot.merchant)

    def write_off(i):
        if i % 7 < 5:
            return redemption.redeem(merchant=spot.merchant, store=counter, terminal=tills[i % 7],
                                     request_no=f"T{i}", voucher=voucher)
        return gates.verify(merchant=spot.merchant, gate_code=f"G{i % 7 - 4}", request_no=f"G{i}",
                            code=ticket if i % 2 else ref, people=1)

    results = race(50, write_off)
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(e, DomainError) for e in losses), losses
    assert {e.code for e in losses} == {"VOUCHER_USED"}
    assert Redemption.objects.filter(voucher=voucher, status="success").count() == 1
    assert RightsFunding.objects.filter(redemption__voucher=voucher).count() == 1
    assert check_rights() == {}


def test_the_worked_example_of_docs_rights_md():
    """docs/rights.md "Gate protocol": the sandbox key's ticket, and its check with the public key alone."""
    import base64
    import json
    import re
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = (Path(__file__).resolve().parents[2] / "docs" / "rights.md").read_text()
    payload = json.loads(re.search(r"payload JSON  (\{.*\})", text).group(1))
    body = re.search(r"    payload       (\S+)", text).group(1)
    signature = re.search(r"    signature     (\S+)", text).group(1)
    public = re.search(r"public key    sbx1 = (\S+)", text).group(1)
    assert tickets.sign_payload({k: v for k, v in payload.items() if k != "kid"}) == f"LBQ2.{body}.{signature}"
    assert tickets.public_keys() == {"sbx1": public}

    def b64(value: str) -> bytes:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))

    Ed25519PublicKey.from_public_bytes(b64(public)).verify(b64(signature), f"LBQ2.{body}".encode())
    assert json.loads(b64(body)) == payload
