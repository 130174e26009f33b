import pytest

from hub import errors


def test_every_code_has_status_and_chinese_message():
    for code, (status, message) in errors.CODES.items():
        assert 400 <= status <= 599
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), code


def test_domain_error_carries_code_status_and_message():
    err = errors.PointsInsufficient()
    assert err.code == "POINTS_INSUFFICIENT"
    assert err.http_status == 422
    assert err.as_dict() == {"code": "POINTS_INSUFFICIENT", "message": "积分余额不足"}
    assert errors.ParamError("金额必须为正整数").message == "金额必须为正整数"


def test_unknown_code_is_refused():
    with pytest.raises(ValueError):
        errors.DomainError(code="NOT_A_CODE")


def test_unknown_exception_becomes_system_error(caplog):
    err = errors.to_domain_error(RuntimeError("boom"))
    assert err.code == "SYSTEM_ERROR"
    assert "boom" in caplog.text
