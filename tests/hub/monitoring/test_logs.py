"""Logs are JSON lines with the request's id and never a full mobile, ID number, token or secret:
a realistic run (till calls, admin pages, a member import, a second-factor login) is captured
through the configured handler's filters and formatter and searched."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from hub.monitoring.logs import RedactingFilter, redact
from tests.hub.gateway.conftest import sandbox  # noqa: F401 - the gateway's sandbox tills

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def test_redact_masks_mobiles_and_drops_id_numbers_and_secrets():
    text = redact('member 13912345678 id 36010219900101123X secret="s3cr3t-Value" token=abc.def '
                  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload app_key=ak_1 sig '
                  'Xq3vZr7Lm2Np8Ks4Tw6Yb1Hc5Jd9Fg0AeRu2Vi7Oo3Ps order 1234567890123 uuid 0f1e2d3c4b5a69788796a5b4c3d2e1f0')
    assert "139****5678" in text and "13912345678" not in text
    assert "36010219900101123X" not in text and "[ID]" in text
    assert "s3cr3t-Value" not in text and "abc.def" not in text and "eyJhbGci" not in text
    assert "Xq3vZr7Lm2Np8Ks4Tw6Yb1Hc5Jd9Fg0AeRu2Vi7Oo3Ps" not in text
    # what is not personal or secret stays readable: order numbers, hex ids
    assert "1234567890123" in text and "0f1e2d3c4b5a69788796a5b4c3d2e1f0" in text


def test_logging_settings_use_the_filters_and_json():
    console = django_settings.LOGGING["handlers"]["console"]
    assert console["filters"] == ["request_id", "redact"] and console["formatter"] == "json"


@pytest.fixture
def captured():
    """A handler like the configured console one (its filters and formatter) writing to a buffer."""
    root = logging.getLogger()
    console = next(h for h in root.handlers if any(isinstance(f, RedactingFilter) for f in h.filters))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    for item in console.filters:
        handler.addFilter(item)
    handler.setFormatter(console.formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.django_db
def test_a_realistic_run_logs_no_personal_data_or_secret(captured, sandbox, admin_client, tmp_path):  # noqa: F811
    from hub.models import Credential
    from members.codes import issue_member_code
    from members.selectors import find_member
    from tests.hub.factories import make_credential
    from tests.hub.gateway.conftest import unique
    from tests.members.factories import make_id_number
    from tests.otp import code, device_for

    # till calls: by code, by mobile (refused), a wrong app key that looks like a mobile, a bad signature
    till = sandbox["kemai"]
    member = find_member(mobile="13800000001")
    member_code, _ = issue_member_code(member=member)
    seen = till.send("identify", member=member_code)
    assert seen.ok
    assert till.send("earn", request_no=unique("S"), member=seen.data[till.member_field], amount_fen=2000).ok
    till.send("redeem", request_no=unique("P"), member="13800000001", points=100)
    from dataclasses import replace

    forged = replace(till.keys, app_key="13912345678")
    till.send_raw(till.command("identify", member="13800000002"), keys=forged)
    wrong = replace(till.keys, secret="wrong-secret-wrong-secret-wrong-secret-1", secrets=("wrong-secret-wrong-1",))
    till.send_raw(till.command("identify", member="13800000002"), keys=wrong)

    # admin pages: a search by mobile, a page that does not exist with a mobile in its address,
    # a credential issued and rotated (the secret shown once on the page)
    admin_client.get(reverse("admin:members_member_changelist"), {"q": "13800000001"})
    admin_client.get("/admin/members/member/13800000001/change/")
    Client().get("/nowhere/13800000001/36010219900101123X")
    credential, secret = make_credential()
    rotated = admin_client.post(reverse("admin:hub_credential_changelist"),
                                {"action": "rotate_secret", "_selected_action": [credential.pk]})
    assert rotated.status_code in (200, 302)
    credential.refresh_from_db()
    secrets = {secret, credential.secret, credential.previous_secret} - {""}

    # a member import with personal data, one line refused
    path = tmp_path / "members.csv"
    ids = [make_id_number(n) for n in (11, 12)]
    path.write_text("邮政会员号,姓名,手机号,身份证号,会员等级\r\n"
                    f"P9000001,张三,13911112222,{ids[0]},\r\n"
                    f"P9000002,李四,13933334444,{ids[1][:-1]}0,\r\n", encoding="utf-8")
    call_command("import_members", str(path), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)

    # a second-factor login
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("ops9", "", "pw-ops9-2026", is_staff=True)
    device = device_for(user)
    staff = Client()
    staff.post(reverse("admin:login"), {"username": "ops9", "password": "pw-ops9-2026"})
    staff.post(reverse("staff:verify"), {"code": code(device)}, HTTP_X_REQUEST_ID="req-from-proxy-0001")

    # and what a careless line or an exception could carry
    logger = logging.getLogger("hub.test")
    logger.warning("careless: mobile %s id %s secret=%s", "13955556666", ids[0], secret)
    try:
        raise ValueError(f"member 13977778888 {ids[1]} token {secret}")
    except ValueError:
        logger.exception("failed")

    out = captured.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) >= 8, out
    assert all(set(line) >= {"time", "level", "logger", "request_id", "message"} for line in lines)
    assert any(line["request_id"] == "req-from-proxy-0001" for line in lines)
    assert any("139****6666" in line["message"] for line in lines)  # the filter ran on the careless line
    assert any("refused app key" in line["message"] for line in lines)
    assert MOBILE.findall(out) == []
    assert ID_NUMBER.findall(out) == []
    assert not [s for s in secrets | {device.key} if s in out]
    assert not Credential.objects.filter(app_key="13912345678").exists()
