"""The audit of the whole run's log (tests/logaudit.py) finds what it must, and only that."""

from __future__ import annotations

import logging
import logging.config

import pytest

from tests import logaudit
from tests.members.factories import MemberFactory


def test_scan_names_each_kind_of_leak_without_quoting_it(tmp_path):
    log = tmp_path / "run.jsonl"
    log.write_text("\n".join([
        '{"message": "member 138****5678 earned 12 points"}',           # masked: fine
        '{"message": "lookup by 13812345678"}',                          # a raw mobile
        '{"message": "id 36010219900101123X"}',                          # an ID number
        '{"message": "Authorization lbq_AbCdEfGhIjKlMnOpQrStUvWx"}',     # a session token
        '{"message": "key s3cr3t-value-of-a-setting-0001"}',             # a noted secret
        '{"message": "request R20261202000001 done in 12 ms"}',          # digits, not a mobile
        '{"request_id": "73dbf17332114312b96397f2ef083c73"}',            # hex, not a mobile
    ]), encoding="utf-8")
    found = logaudit.scan(log, {"s3cr3t-value-of-a-setting-0001": "the setting X"})
    assert found == ["run.jsonl:2: an unmasked mobile number", "run.jsonl:3: an ID number",
                     "run.jsonl:4: a mini-program session token", "run.jsonl:5: the setting X"]
    assert not any("13812345678" in line or "s3cr3t" in line for line in found)


@pytest.mark.django_db
def test_a_members_mobile_is_noted_and_logging_it_leaves_it_masked():
    member = MemberFactory(mobile="13955501234")
    assert logaudit._values.get("13955501234") == "a member's mobile"
    logging.getLogger("hub.test").warning("till looked up member %s by %s", member.pk, member.mobile)
    # Through the run's audited handler the line is redacted: the audit finds no leak in it.
    logaudit._handler.flush()
    lines = logaudit.LOG_FILE.read_text(encoding="utf-8").splitlines()
    ours = [line for line in lines if "till looked up member" in line]
    assert ours and "139****1234" in ours[-1] and "13955501234" not in ours[-1]


def test_the_audit_still_reads_the_log_after_logging_was_reconfigured(settings):
    # logging.config closes every handler it finds, the audit's too: the audit must still see
    # what is logged afterwards, or a leak after any reconfiguration would pass unnoticed.
    logging.config.dictConfig(settings.LOGGING)
    logaudit.attach()
    logging.getLogger("hub.test").warning("after reconfiguration: marker 7f3a")
    logaudit._handler.flush()
    assert "after reconfiguration: marker 7f3a" in logaudit.LOG_FILE.read_text(encoding="utf-8")
