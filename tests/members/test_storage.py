"""PII at rest: nothing readable in the table, blind-index lookups, key rotation."""

import base64
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from hub.credentials import issue_credential, rotate_credential
from hub.models import Credential, Vendor
from members import services, vault
from members.models import Member
from members.selectors import find_member
from tests.members.factories import MemberFactory, MerchantFactory, VendorFactory

MOBILE, ID_NUMBER, NAME = "13912345678", "11010519491231002X", "Lily 李丽"


def _raw_columns(table: str, pk: int, columns: list[str]) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s", [pk])
        return dict(zip(columns, cursor.fetchone(), strict=True))


def _raw_member(pk: int) -> dict[str, str]:
    return _raw_columns("members_member", pk, ["name", "mobile", "id_number", "mobile_index", "id_number_index"])


@pytest.mark.django_db
def test_no_plaintext_in_any_column_of_the_member_table(standard):
    member = services.register_member(
        postal_no="JX0000000001", name=NAME, mobile=MOBILE, id_number=ID_NUMBER, tier=standard
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(m)::text FROM members_member m WHERE id = %s", [member.pk])
        (row,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM members_member m WHERE m::text LIKE %s OR m::text LIKE %s OR m::text LIKE %s"
            " OR m::text LIKE %s",
            ["%" + MOBILE + "%", "%" + ID_NUMBER + "%", "%Lily%", "%李丽%"],
        )
        (matches,) = cursor.fetchone()
    assert "JX0000000001" in row  # the query does see the row
    for secret in (MOBILE, ID_NUMBER, ID_NUMBER[:17], "Lily", "李丽", MOBILE[3:7]):
        assert secret not in row
    assert matches == 0
    raw = _raw_member(member.pk)
    for column in ("name", "mobile", "id_number"):
        assert raw[column].startswith("gAAAAA")  # a Fernet token
    # and they are the values, encrypted: the key ring opens them
    assert (vault.decrypt(raw["name"]), vault.decrypt(raw["mobile"]), vault.decrypt(raw["id_number"])) == (
        NAME, MOBILE, ID_NUMBER
    )


@pytest.mark.django_db
def test_same_mobile_encrypts_differently_each_time(standard):
    a = services.register_member(postal_no="JX0000000002", name="甲", mobile="13900000001", tier=standard)
    services.update_member(member=a, mobile="13900000002")
    token1 = _raw_member(a.pk)["mobile"]
    services.update_member(member=a, mobile="13900000001")
    services.update_member(member=a, mobile="13900000002")
    assert _raw_member(a.pk)["mobile"] != token1


@pytest.mark.django_db
def test_blind_index_finds_exactly_the_member(standard):
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        assert find_member(mobile=member.mobile) == member
        assert Member.objects.filter(id_number_index=vault.blind_index(member.id_number, purpose="id_number")).get() == member
    assert len({m.mobile_index for m in members}) == 5


@pytest.mark.django_db
def test_blind_index_depends_on_the_key(settings, member):
    before = vault.blind_index(member.mobile, purpose="mobile")
    settings.BLIND_INDEX_KEY = "another-index-key"
    assert vault.blind_index(member.mobile, purpose="mobile") != before


def _new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet_ok(token: str, key: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
        return True
    except Exception:
        return False


@pytest.mark.django_db
def test_key_rotation_old_rows_read_and_reencrypt_moves_them(settings, standard):
    old_key, new_key = _new_key(), _new_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    members = [MemberFactory() for _ in range(7)]
    expected = {m.pk: (m.name, m.mobile, m.id_number) for m in members}
    vendor = VendorFactory(code=Vendor.ZHIBAIWEI)
    credential, secret = issue_credential(merchant=MerchantFactory(vendor=vendor), vendor=vendor)
    new_secret = rotate_credential(credential=credential)

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    # rows written under the old key still read
    for pk, values in expected.items():
        stored = Member.objects.get(pk=pk)
        assert (stored.name, stored.mobile, stored.id_number) == values
    raw = _raw_member(members[0].pk)
    assert _fernet_ok(raw["mobile"], old_key) and not vault.is_current(raw["mobile"])

    out = io.StringIO()
    call_command("reencrypt_pii", "--batch-size", "3", stdout=out, verbosity=0)
    assert "members.Member: rows=7 reencrypted=7 reindexed=0" in out.getvalue()
    assert "hub.Credential: rows=1 reencrypted=1" in out.getvalue()

    # the old key can go: everything opens with the new key alone
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    for pk, values in expected.items():
        stored = Member.objects.get(pk=pk)
        assert (stored.name, stored.mobile, stored.id_number) == values
        raw = _raw_member(pk)
        assert all(_fernet_ok(raw[c], new_key) and not _fernet_ok(raw[c], old_key) for c in ("name", "mobile", "id_number"))
    stored_credential = Credential.objects.get(pk=credential.pk)
    assert (stored_credential.secret, stored_credential.previous_secret) == (new_secret, secret)
    assert find_member(mobile=members[0].mobile) == members[0]  # indexes untouched by re-encryption

    out = io.StringIO()
    call_command("reencrypt_pii", stdout=out, verbosity=0)
    assert "members.Member: rows=7 reencrypted=0 reindexed=0" in out.getvalue()  # nothing left to do
    assert "total: rows=8 reencrypted=0" in out.getvalue()


@pytest.mark.django_db
def test_reencrypt_leaves_empty_values_empty(settings, standard):
    old_key = _new_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    member = MemberFactory(id_number="")
    settings.FIELD_ENCRYPTION_KEYS = [_new_key(), old_key]
    call_command("reencrypt_pii", stdout=io.StringIO(), verbosity=0)
    assert _raw_member(member.pk)["id_number"] == ""
    assert vault.is_current(_raw_member(member.pk)["mobile"])


@pytest.mark.django_db
def test_reindex_recomputes_blind_indexes_after_the_index_key_changes(settings, standard):
    members = [MemberFactory() for _ in range(3)]
    settings.BLIND_INDEX_KEY = "rotated-index-key-" + base64.b16encode(b"x").decode()
    assert find_member(mobile=members[0].mobile) is None  # stale indexes

    out = io.StringIO()
    call_command("reencrypt_pii", "--reindex", "--batch-size", "2", stdout=out, verbosity=0)
    assert "members.Member: rows=3 reencrypted=0 reindexed=3" in out.getvalue()
    for member in members:
        assert find_member(mobile=member.mobile) == member
        stored = Member.objects.get(pk=member.pk)
        assert stored.id_number_index == vault.blind_index(member.id_number, purpose="id_number")


def test_reencrypt_refuses_a_bad_batch_size():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="batch-size"):
        call_command("reencrypt_pii", "--batch-size", "0", stdout=io.StringIO())
