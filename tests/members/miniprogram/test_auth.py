"""Sign-in, phone binding and the session tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from members.miniprogram import sessions
from members.miniprogram.models import MpIdentity, MpSession
from members.models import Member
from members.selectors import find_member


def test_login_answers_a_fresh_opaque_token_stored_only_as_a_digest(api):
    user = api()
    first = user.login("alice")
    assert first.status == 200 and first.code == "SUCCESS" and first.body["message"] == "成功"
    data = first.data
    assert data["bound"] is False and data["need_phone"] is True and "member" not in data
    token = data["token"]
    assert token.startswith("lbq_") and len(token) - 4 >= 43  # 32 random bytes = 256 bits, url-safe
    session = MpSession.objects.get()
    assert session.digest == sessions.token_digest(token) and token not in session.digest
    assert data["expires_at"].endswith("+08:00")
    second = api().login("alice").data["token"]
    assert second != token and MpIdentity.objects.count() == 1  # the same WeChat user, a second session
    assert not MpIdentity.objects.filter(subject_digest__contains="alice").exists()


def test_bind_phone_then_me(api):
    user = api()
    user.login("bob")
    assert user.get("me").code == "MEMBER_NOT_BOUND"
    bound = user.bind("13800000002")
    assert bound.status == 200 and bound.data == {
        "bound": True, "member": {"name_masked": "*芳", "mobile_masked": "138****0002", "tier": "银卡"}}
    me = user.get("me")
    assert me.status == 200 and me.data["tier"] == {"code": "silver", "name": "银卡"}
    assert me.data["consent_version"] == "v1"
    again = api().login("bob").data
    assert again["bound"] is True and again["need_phone"] is False
    assert again["member"]["mobile_masked"] == "138****0002"


def test_phone_not_member_explains_how_to_join(api):
    user = api()
    user.login("carol")
    answer = user.bind("13999999999")
    assert (answer.status, answer.code) == (404, "PHONE_NOT_MEMBER")
    assert "邮政网点" in answer.data["join_text"]
    assert MpIdentity.objects.get().member is None


def test_a_member_bound_to_another_wechat_user_is_refused(api):
    api().member("dave", "13800000003")
    other = api()
    other.login("eve")
    answer = other.bind("13800000003")
    assert (answer.status, answer.code) == (409, "PHONE_BOUND_OTHER")
    # and a WeChat user already bound cannot take a second member
    first = api()
    first.login("dave")
    assert first.bind("13800000004").code == "PHONE_BOUND_OTHER"
    assert MpIdentity.objects.filter(member__isnull=False).count() == 1


def test_consent_version_is_required(api):
    user = api()
    user.login("frank")
    answer = user.post("auth/phone", {"phone_code": "phone:13800000001", "consent_version": "v0"})
    assert (answer.status, answer.code) == (422, "CONSENT_REQUIRED")
    assert answer.data["consent_version"] == "v1"
    text = api().get("consent")
    assert text.status == 200 and text.data["version"] == "v1" and "授权" in text.data["text"]


@pytest.mark.parametrize(("js_code", "status", "code"), [
    ("bad", 400, "WECHAT_CODE_INVALID"), ("busy", 503, "UPSTREAM_BUSY"), ("rate", 429, "RATE_LIMITED"),
    ("", 400, "PARAM_ERROR"), (12, 400, "PARAM_ERROR"),
])
def test_login_refusals(api, js_code, status, code):
    answer = api().post("auth/wechat/login", {"js_code": js_code})
    assert (answer.status, answer.code) == (status, code), answer
    assert MpSession.objects.count() == 0


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer lbq_forged0000000000000000000000000000000000000",
                                    "Basic abc", "bearer " + "x" * 500])
def test_a_missing_or_forged_token_is_no_auth_401(api, header):
    user = api()
    answer = user.call("GET", "me", token=None) if header is None else None
    if header is not None:
        from django.test import Client
        response = Client().get("/api/mp/v1/me", headers={"Authorization": header})
        answer_status, body = response.status_code, response.json()
    else:
        answer_status, body = answer.status, answer.body
    assert answer_status == 401 and body["code"] == "NO_AUTH"


def test_logout_revokes_the_token_and_logout_all_every_session(api):
    a = api().member("gina", "13800000005")
    b = api()
    b.login("gina")
    c = api()
    c.login("gina")
    assert a.post("auth/logout").status == 200
    assert (a.get("me").status, a.get("me").code) == (401, "NO_AUTH")
    assert b.get("me").status == 200
    assert b.post("auth/logout-all").status == 200
    assert b.get("me").code == "NO_AUTH" and c.get("me").code == "NO_AUTH"
    assert MpSession.objects.filter(revoked_at__isnull=True).count() == 0


def test_an_idle_session_expires_and_use_slides_the_expiry(api):
    user = api().member("hank", "13800000004")
    session = MpSession.objects.get()
    now = timezone.now()
    MpSession.objects.filter(pk=session.pk).update(last_used_at=now - timedelta(days=29),
                                                   expires_at=now + timedelta(days=1))
    assert user.get("me").status == 200
    slid = MpSession.objects.get()
    assert slid.expires_at > now + timedelta(days=29, hours=23)
    MpSession.objects.filter(pk=session.pk).update(expires_at=now - timedelta(seconds=1))
    answer = user.get("me")
    assert (answer.status, answer.code) == (401, "TOKEN_EXPIRED")


def test_login_is_rate_limited_per_ip_with_retry_after(api, settings):
    settings.MINIPROGRAM_RATE_LIMITS = {"login": (None, 3)}
    user = api()
    answers = [user.post("auth/wechat/login", {"js_code": f"test:r{i}"}) for i in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert answers[-1].code == "RATE_LIMITED" and answers[-1].headers["Retry-After"] == "60"


def test_phone_binding_and_member_code_are_rate_limited_per_session(api, settings):
    settings.MINIPROGRAM_RATE_LIMITS = {"phone": (2, 100), "member_code": (2, 100)}
    user = api()
    user.login("ivy")
    codes = [user.bind("13999999990").status for _ in range(3)]
    assert codes == [404, 404, 429]
    bound = api().member("jack", "13800000001")
    assert [bound.post("me/member-code").status for _ in range(3)] == [200, 200, 429]


def test_tokens_never_reach_the_logs(api, caplog):
    caplog.set_level(logging.DEBUG)
    user = api().member("kate", "13800000001")
    user.get("me")
    user.post("auth/logout")
    user.get("me")
    assert user.token not in caplog.text and "o-test-kate" not in caplog.text


def test_a_closed_member_is_unbound(api):
    user = api().member("liam", "13800000002")
    assert user.post("me/close", {"request_no": "X1", "confirm": True}).status == 200
    assert find_member(mobile="13800000002").status == Member.Status.CLOSED
    assert user.get("me").code == "NO_AUTH"
    again = api()
    assert again.login("liam").data["bound"] is False
    assert again.bind("13800000002").code == "PHONE_NOT_MEMBER"
