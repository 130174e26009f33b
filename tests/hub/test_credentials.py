"""hub.credentials: issue, rotate with overlap, revoke, look up; bad input writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hub import credentials
from hub.credentials import (
    active_secrets,
    credential_for_app_key,
    issue_credential,
    replace_public_key,
    revoke_credential,
    rotate_credential,
)
from hub.errors import NoAuth, ParamError
from hub.models import Credential, Merchant, Vendor
from members import vault
from tests.hub.factories import FANGXIANG_TEST_PUBLIC_KEY, MerchantFactory, VendorFactory, make_credential

pytestmark = pytest.mark.django_db


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def raw_row(credential_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT app_key, secret, previous_secret, previous_valid_until, rsa_public_key, status "
            "FROM hub_credential WHERE id = %s",
            [credential_id],
        )
        columns = [col.name for col in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def other_rsa_pem():
    return public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def fangxiang():
    return VendorFactory(code=Vendor.FANGXIANG)


# ---- issue ---------------------------------------------------------------------------------


def test_issue_generates_strong_key_and_secret_stored_encrypted():
    credential, secret = make_credential()

    assert credential.app_key.startswith("ak_") and len(credential.app_key) == 23
    assert len(secret) >= 43
    raw = raw_row(credential.pk)
    assert secret not in raw["secret"]
    assert raw["secret"].startswith("gAAAA")  # a Fernet token
    assert vault.decrypt(raw["secret"]) == secret
    assert Credential.objects.get(pk=credential.pk).secret == secret
    assert active_secrets(Credential.objects.get(pk=credential.pk)) == (secret,)


def test_issue_twice_gives_different_keys_and_secrets():
    first, first_secret = make_credential()
    second, second_secret = make_credential()
    assert first.app_key != second.app_key
    assert first_secret != second_secret


def test_issue_with_given_app_key_and_secret():
    credential, secret = make_credential(app_key="shop_till-01", secret="given-secret-000001", is_sandbox=True)
    credential.refresh_from_db()
    assert (credential.app_key, secret, credential.secret, credential.is_sandbox) == (
        "shop_till-01", "given-secret-000001", "given-secret-000001", True,
    )


def test_rsa_credential_registers_normalised_public_key_and_has_no_secret(fangxiang):
    credential, secret = make_credential(vendor=fangxiang, app_key="fx_app_1")
    credential.refresh_from_db()
    assert secret is None
    assert credential.secret == ""
    assert credential.rsa_public_key.strip() == FANGXIANG_TEST_PUBLIC_KEY.strip()
    assert active_secrets(credential) == ()
    assert raw_row(credential.pk)["secret"] == ""


def _bad_pems():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private_pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = "".join(FANGXIANG_TEST_PUBLIC_KEY.strip().splitlines()[1:-1])
    return {
        "empty": "",
        "garbage": "这不是公钥",
        "truncated": FANGXIANG_TEST_PUBLIC_KEY[:200],
        "no-armour": body,
        "ec-key": public_pem(ec_key),
        "rsa-1024": public_pem(small),
        "private-key": private_pem,
    }


@pytest.mark.parametrize("case", list(_bad_pems()))
def test_bad_rsa_public_key_is_refused_and_nothing_written(fangxiang, case):
    merchant = MerchantFactory(vendor=fangxiang)
    before = Credential.objects.count()
    with pytest.raises(ParamError) as info:
        issue_credential(merchant=merchant, vendor=fangxiang, app_key="fx_bad", rsa_public_key=_bad_pems()[case])
    assert info.value.code == "PARAM_ERROR"
    assert chinese(info.value.message)
    assert Credential.objects.count() == before


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"app_key": "a b"}, "AppKey 格式错误"),
        ({"app_key": "abc"}, "AppKey 格式错误"),
        ({"app_key": "x" * 65}, "AppKey 格式错误"),
        ({"secret": "too-short"}, "密钥格式错误"),
        ({"secret": "has a space in the secret"}, "密钥格式错误"),
        ({"secret": "密钥密钥密钥密钥密钥密钥密钥密钥"}, "密钥格式错误"),
        ({"rsa_public_key": FANGXIANG_TEST_PUBLIC_KEY}, "不接受 RSA 公钥"),
        ({"is_sandbox": "yes"}, "沙箱"),
    ],
)
def test_bad_input_for_a_secret_vendor_is_refused_and_nothing_written(kwargs, fragment):
    merchant = MerchantFactory()
    before = Credential.objects.count()
    with pytest.raises(ParamError) as info:
        issue_credential(merchant=merchant, vendor=merchant.vendor, **kwargs)
    assert fragment in info.value.message
    assert Credential.objects.count() == before


def test_rsa_vendor_refuses_a_shared_secret(fangxiang):
    merchant = MerchantFactory(vendor=fangxiang)
    with pytest.raises(ParamError, match="RSA2"):
        issue_credential(merchant=merchant, vendor=fangxiang, secret="some-secret-00000001",
                         rsa_public_key=FANGXIANG_TEST_PUBLIC_KEY)
    assert not Credential.objects.exists()


def test_duplicate_app_key_is_refused():
    credential, _ = make_credential(app_key="dup_app")
    with pytest.raises(ParamError, match="已被使用"):
        make_credential(app_key="dup_app")
    assert list(Credential.objects.values_list("pk", flat=True)) == [credential.pk]


def test_closed_merchant_gets_no_credential():
    merchant = MerchantFactory(status=Merchant.Status.CLOSED)
    with pytest.raises(ParamError, match="已关闭"):
        issue_credential(merchant=merchant, vendor=merchant.vendor)
    assert not Credential.objects.exists()


def test_missing_merchant_or_vendor_is_a_param_error():
    vendor = VendorFactory()
    with pytest.raises(ParamError, match="商户"):
        issue_credential(merchant=None, vendor=vendor)
    with pytest.raises(ParamError, match="接口方言"):
        issue_credential(merchant=MerchantFactory(), vendor=None)
    assert not Credential.objects.exists()


# ---- rotate --------------------------------------------------------------------------------


def test_rotation_keeps_old_secret_valid_only_inside_the_overlap():
    credential, old = make_credential()
    before = timezone.now()
    new = rotate_credential(credential=credential, overlap=timedelta(hours=2))
    after = timezone.now()

    stored = Credential.objects.get(pk=credential.pk)
    assert new != old
    assert stored.secret == new and stored.previous_secret == old
    assert before + timedelta(hours=2) <= stored.previous_valid_until <= after + timedelta(hours=2)
    assert stored.rotated_at is not None
    assert new not in raw_row(stored.pk)["secret"] and old not in raw_row(stored.pk)["previous_secret"]

    deadline = stored.previous_valid_until
    assert active_secrets(stored) == (new, old)
    assert active_secrets(stored, now=deadline - timedelta(seconds=1)) == (new, old)
    assert active_secrets(stored, now=deadline) == (new,)
    assert active_secrets(stored, now=deadline + timedelta(hours=1)) == (new,)
    # the caller's instance was refreshed
    assert credential.secret == new and credential.previous_valid_until == deadline


def test_default_overlap_is_24_hours():
    credential, _ = make_credential()
    rotate_credential(credential=credential)
    window = credential.previous_valid_until - credential.rotated_at
    assert window == timedelta(hours=24)


def test_rotation_without_overlap_kills_old_secret_at_once():
    credential, old = make_credential()
    new = rotate_credential(credential=credential, overlap=timedelta(0))
    stored = Credential.objects.get(pk=credential.pk)
    assert active_secrets(stored) == (new,)
    assert stored.previous_secret == "" and stored.previous_valid_until is None


def test_second_rotation_inside_window_drops_the_oldest_secret():
    credential, first = make_credential()
    second = rotate_credential(credential=credential)
    third = rotate_credential(credential=credential)
    assert active_secrets(Credential.objects.get(pk=credential.pk)) == (third, second)
    assert first not in active_secrets(credential)


@pytest.mark.parametrize("overlap", [timedelta(seconds=-1), timedelta(days=31), 3600])
def test_bad_overlap_is_refused_and_secret_unchanged(overlap):
    credential, secret = make_credential()
    raw_before = raw_row(credential.pk)
    with pytest.raises(ParamError, match="过渡期"):
        rotate_credential(credential=credential, overlap=overlap)
    assert raw_row(credential.pk) == raw_before
    assert active_secrets(Credential.objects.get(pk=credential.pk)) == (secret,)


def test_rsa_credential_cannot_be_rotated(fangxiang):
    credential, _ = make_credential(vendor=fangxiang)
    with pytest.raises(ParamError, match="RSA 公钥"):
        rotate_credential(credential=credential)
    assert Credential.objects.get(pk=credential.pk).rotated_at is None


# ---- revoke and look-up --------------------------------------------------------------------


def test_revoke_stops_the_credential():
    credential, secret = make_credential()
    rotate_credential(credential=credential)
    assert credential_for_app_key(credential.app_key).pk == credential.pk

    revoke_credential(credential=credential)

    stored = Credential.objects.get(pk=credential.pk)
    assert stored.status == Credential.Status.REVOKED and stored.revoked_at is not None
    assert stored.previous_secret == "" and stored.previous_valid_until is None
    assert active_secrets(stored) == ()
    with pytest.raises(NoAuth, match="吊销"):
        credential_for_app_key(credential.app_key)
    with pytest.raises(ParamError, match="已吊销"):
        revoke_credential(credential=stored)
    with pytest.raises(ParamError, match="已吊销"):
        rotate_credential(credential=stored)
    assert Credential.objects.get(pk=credential.pk).revoked_at == stored.revoked_at


@pytest.mark.parametrize("app_key", ["no_such_app", "", None, 12345, "x" * 65])
def test_unknown_app_key_is_no_auth(app_key):
    make_credential(app_key="known_app")
    with pytest.raises(NoAuth) as info:
        credential_for_app_key(app_key)
    assert info.value.code == "NO_AUTH" and info.value.http_status == 403


def test_sandbox_credentials_are_refused_when_debug_is_off(settings):
    sandbox, _ = make_credential(app_key="sbx_app", is_sandbox=True)
    real, _ = make_credential(app_key="real_app")

    settings.DEBUG = True
    assert credential_for_app_key("sbx_app").pk == sandbox.pk
    settings.DEBUG = False
    with pytest.raises(NoAuth, match="沙箱"):
        credential_for_app_key("sbx_app")
    assert credential_for_app_key("real_app").pk == real.pk


@pytest.mark.parametrize("status", [Merchant.Status.SUSPENDED, Merchant.Status.CLOSED])
def test_inactive_merchant_is_no_auth(status):
    credential, _ = make_credential(app_key="shop_app")
    Merchant.objects.filter(pk=credential.merchant_id).update(status=status)
    with pytest.raises(NoAuth, match="商户"):
        credential_for_app_key("shop_app")


def test_lookup_brings_merchant_and_vendor_in_one_query(django_assert_num_queries):
    make_credential(app_key="one_query")
    with django_assert_num_queries(1):
        credential = credential_for_app_key("one_query")
        assert credential.merchant.code and credential.vendor.code


def test_replace_public_key(fangxiang, other_rsa_pem):
    credential, _ = make_credential(vendor=fangxiang)
    replace_public_key(credential=credential, rsa_public_key=other_rsa_pem)
    assert Credential.objects.get(pk=credential.pk).rsa_public_key == other_rsa_pem

    with pytest.raises(ParamError):
        replace_public_key(credential=credential, rsa_public_key="bad")
    assert Credential.objects.get(pk=credential.pk).rsa_public_key == other_rsa_pem

    secret_credential, _ = make_credential()
    with pytest.raises(ParamError, match="共享密钥"):
        replace_public_key(credential=secret_credential, rsa_public_key=other_rsa_pem)
    assert Credential.objects.get(pk=secret_credential.pk).rsa_public_key == ""


# ---- what the database refuses by itself ---------------------------------------------------


def test_database_refuses_inconsistent_credential_rows():
    credential, _ = make_credential()
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.REVOKED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(previous_valid_until=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(secret="", rsa_public_key="")
    assert Credential.objects.get(pk=credential.pk).is_active


def test_generated_secrets_are_url_safe_and_distinct():
    generated = {credentials.generate_secret() for _ in range(200)}
    assert len(generated) == 200
    assert all(credentials.SECRET_RE.match(s) and not set(s) & set("|&= ") for s in generated)


# ---- key ring rotation reaches credential secrets ------------------------------------------


def test_reencrypt_pii_moves_credential_secrets_to_the_newest_key(settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_ring = list(settings.FIELD_ENCRYPTION_KEYS)
    credential, secret = make_credential()
    rotate_credential(credential=credential)
    previous = credential.previous_secret

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_ring]
    assert not vault.is_current(raw_row(credential.pk)["secret"])
    call_command("reencrypt_pii", verbosity=0)
    raw = raw_row(credential.pk)
    assert vault.is_current(raw["secret"]) and vault.is_current(raw["previous_secret"])

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key retired
    assert active_secrets(Credential.objects.get(pk=credential.pk)) == (credential.secret, previous)


# ---- the shell command -------------------------------------------------------------------------


def _run(*args) -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("credential", *args, stdout=out)
    return out.getvalue()


def test_credential_command_issue_rotate_revoke_list(tmp_path):
    merchant = MerchantFactory(code="CMD01")
    out = _run("issue", "--merchant", "CMD01", "--vendor", merchant.vendor.code, "--app-key", "cmd_app")
    secret = out.split("密钥（只显示这一次）: ")[1].strip()
    assert active_secrets(credential_for_app_key("cmd_app")) == (secret,)

    out = _run("rotate", "cmd_app", "--overlap-hours", "2")
    new = out.split("新密钥（只显示这一次）: ")[1].strip()
    assert active_secrets(credential_for_app_key("cmd_app")) == (new, secret)

    listing = _run("list", "--merchant", "CMD01")
    assert "cmd_app\tCMD01" in listing and secret not in listing and new not in listing

    _run("revoke", "cmd_app")
    with pytest.raises(NoAuth):
        credential_for_app_key("cmd_app")


def test_credential_command_registers_a_public_key_file(tmp_path, fangxiang):
    MerchantFactory(code="CMDFX", vendor=fangxiang)
    pem = tmp_path / "vendor.pem"
    pem.write_text(FANGXIANG_TEST_PUBLIC_KEY)
    out = _run("issue", "--merchant", "CMDFX", "--vendor", "fangxiang", "--app-key", "cmd_fx", "--public-key-file", str(pem))
    assert "只显示这一次" not in out
    assert credential_for_app_key("cmd_fx").rsa_public_key.strip() == FANGXIANG_TEST_PUBLIC_KEY.strip()


@pytest.mark.parametrize(
    "args, message",
    [
        (["issue", "--merchant", "NOPE", "--vendor", "kemai"], "商户不存在"),
        (["issue", "--merchant", "CMD02", "--vendor", "kemai", "--app-key", "x y"], "AppKey 格式错误"),
        (["issue", "--merchant", "CMD02", "--vendor", "kemai", "--public-key-file", "/nonexistent.pem"], "无法读取公钥文件"),
        (["rotate", "no_such_app"], "凭证不存在"),
        (["rotate", "cmd_existing", "--overlap-hours", "1000"], "过渡期"),
        (["revoke", "no_such_app"], "凭证不存在"),
    ],
)
def test_credential_command_errors_are_chinese_and_change_nothing(args, message):
    from django.core.management.base import CommandError

    merchant = MerchantFactory(code="CMD02", vendor=VendorFactory(code=Vendor.KEMAI))
    existing, secret = make_credential(merchant=merchant, app_key="cmd_existing")
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert list(Credential.objects.values_list("app_key", flat=True)) == ["cmd_existing"]
    assert active_secrets(Credential.objects.get(pk=existing.pk)) == (secret,)
