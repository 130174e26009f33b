"""Issue 15, findings 16, 17, 18 and parts of 22: Unicode digits, the blind-index key ring and a
reindex that finishes, one corrupt ciphertext, consent for a closed member, card numbers."""

import io

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from hub.errors import ParamError
from members import codes, credentials, services, vault
from members.models import Member, VendorMemberLink
from members.selectors import find_member, get_member_by_credential
from members.validation import clean_id_number, clean_mobile
from tests.members.factories import LinkFactory, MemberFactory, MerchantFactory, UserFactory


def _raw(pk: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM members_member WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _set_raw(pk: int, **columns) -> None:
    with connection.cursor() as cursor:
        for column, value in columns.items():
            cursor.execute(f"UPDATE members_member SET {column} = %s WHERE id = %s", [value, pk])


# --- 16: ASCII digits only after NFKC ------------------------------------------------------


@pytest.mark.django_db
def test_full_width_digits_are_normalised_so_the_same_person_cannot_register_twice(standard):
    first = services.register_member(postal_no="JXWIDE000001", name="张三", mobile="1３８００１３８０００", tier=standard)
    assert Member.objects.get(pk=first.pk).mobile == "13800138000"
    assert find_member(mobile="13800138000") == first
    with pytest.raises(ParamError, match="手机号已被其他会员使用"):
        services.register_member(postal_no="JXWIDE000002", name="张三", mobile="13800138000", tier=standard)
    with pytest.raises(ParamError, match="手机号已被其他会员使用"):
        services.register_member(postal_no="JXWIDE000003", name="张三", mobile="１３８００１３８０００", tier=standard)
    full_width_id = "１１０１０５１９４９１２３１００２ｘ"
    services.update_member(member=first, id_number=full_width_id)
    assert Member.objects.get(pk=first.pk).id_number == "11010519491231002X"
    assert Member.objects.get(pk=first.pk).id_number_index == vault.blind_index("11010519491231002X", purpose="id_number")


@pytest.mark.parametrize(
    "value", ["1٣800138000", "13800138٠00", "1\u0663800138000", "１３８００１３８０００٣", "1३800138000"]
)
def test_other_unicode_digits_are_refused_as_mobiles(value):
    with pytest.raises(ParamError, match="手机号格式不正确"):
        clean_mobile(value)


def test_other_unicode_digits_are_refused_in_id_numbers():
    with pytest.raises(ParamError, match="身份证号格式不正确"):
        clean_id_number("1101051949123100٢X")
    assert clean_id_number("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"


@pytest.mark.django_db
def test_the_admin_form_and_the_import_read_full_width_digits_as_ascii(client, tmp_path, standard):
    client.force_login(UserFactory(perms=["members.view_member", "members.add_member", "members.view_tier"]))
    data = {"postal_no": "JXWIDE000010", "tier": standard.pk, "new_name": "李雷", "new_mobile": "１３６２２２２３３３３"}
    assert client.post(reverse("admin:members_member_add"), data).status_code == 302
    assert find_member(mobile="13622223333").postal_no == "JXWIDE000010"
    path = tmp_path / "wide.csv"
    path.write_text("邮政会员号,姓名,手机号,身份证号,会员等级\r\nJXWIDE000011,韩梅,１３６２２２２３３３３,,普卡\r\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_members", str(path), stdout=out, verbosity=0)
    assert "line 2: 手机号已被其他会员使用" in out.getvalue()
    assert Member.objects.count() == 1


# --- 17: a key ring for the blind index, and a reindex that finishes ------------------------

OLD_INDEX_KEY = "old-blind-index-key-" + "o" * 20
NEW_INDEX_KEY = "new-blind-index-key-" + "n" * 20


@pytest.mark.django_db
def test_changing_the_index_key_has_a_transition(settings, standard):
    settings.BLIND_INDEX_KEY, settings.BLIND_INDEX_KEYS = OLD_INDEX_KEY, []
    members = [MemberFactory() for _ in range(3)]
    # the operator puts the new key first and keeps the old one after it
    settings.BLIND_INDEX_KEY, settings.BLIND_INDEX_KEYS = NEW_INDEX_KEY, [NEW_INDEX_KEY, OLD_INDEX_KEY]
    for member in members:
        assert find_member(mobile=member.mobile) == member  # still found before any reindex
    with pytest.raises(ParamError, match="手机号已被其他会员使用"):
        services.register_member(postal_no="JXRING000001", name="甲", mobile=members[0].mobile, tier=standard)
    fresh = services.register_member(postal_no="JXRING000002", name="乙", mobile="13712340000", tier=standard)
    assert _raw(fresh.pk, "mobile_index") == vault._index_under(NEW_INDEX_KEY, "13712340000", "mobile")

    out = io.StringIO()
    call_command("reencrypt_pii", "--reindex", "--batch-size", "2", stdout=out, verbosity=0)
    assert "members.Member: rows=4 reencrypted=0 reindexed=3" in out.getvalue()
    out = io.StringIO()
    call_command("reencrypt_pii", "--reindex", stdout=out, verbosity=0)
    assert "members.Member: rows=4 reencrypted=0 reindexed=0" in out.getvalue()  # idempotent

    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY]  # the old key retired
    for member in [*members, fresh]:
        assert find_member(mobile=member.mobile) == member
        assert _raw(member.pk, "id_number_index") in (
            None, vault._index_under(NEW_INDEX_KEY, Member.objects.get(pk=member.pk).id_number, "id_number")
        )


@pytest.mark.django_db
def test_reindex_finishes_and_reports_a_duplicate_let_in_before_the_ring(settings, standard):
    settings.BLIND_INDEX_KEY, settings.BLIND_INDEX_KEYS = OLD_INDEX_KEY, []
    first = MemberFactory(mobile="13711110000")
    others = [MemberFactory() for _ in range(3)]
    # a second member with the same mobile, indexed under the new key only (the old code let
    # this in while lookups under the new key found nobody)
    settings.BLIND_INDEX_KEY, settings.BLIND_INDEX_KEYS = NEW_INDEX_KEY, []
    twin = services.register_member(postal_no="JXTWIN000001", name="双", mobile="13711110000", tier=standard)
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY, OLD_INDEX_KEY]
    for _ in range(2):  # reruns end the same way: no crash, the same report
        out = io.StringIO()
        with pytest.raises(CommandError, match="skipped"):
            call_command("reencrypt_pii", "--reindex", "--batch-size", "2", stdout=out, verbosity=0)
        assert f"members.Member id={first.pk} mobile_index: another row already has" in out.getvalue()
    for member in others:
        assert _raw(member.pk, "mobile_index") == vault._index_under(NEW_INDEX_KEY, member.mobile, "mobile")
    assert _raw(twin.pk, "mobile_index") == vault._index_under(NEW_INDEX_KEY, "13711110000", "mobile")
    assert _raw(first.pk, "mobile_index") == vault._index_under(OLD_INDEX_KEY, "13711110000", "mobile")


# --- 18: one corrupt ciphertext -------------------------------------------------------------

CORRUPT = "gAAAAABcorrupted-token-that-no-key-opens=="


@pytest.mark.django_db
def test_reencrypt_skips_and_reports_a_corrupt_value_and_finishes_the_rest(settings, standard):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    members = [MemberFactory() for _ in range(5)]
    _set_raw(members[1].pk, id_number=CORRUPT)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    with pytest.raises(CommandError, match="Do not remove any key"):
        call_command("reencrypt_pii", "--batch-size", "2", stdout=out, verbosity=0)
    assert "members.Member: rows=5 reencrypted=5" in out.getvalue()  # its readable columns too
    assert f"members.Member id={members[1].pk} id_number: no key of FIELD_ENCRYPTION_KEYS decrypts it" in out.getvalue()
    assert _raw(members[1].pk, "id_number") == CORRUPT  # left as it was
    for member in members:
        assert vault.is_current(_raw(member.pk, "mobile"))
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert [find_member(mobile=m.mobile) for m in members] == members


@pytest.mark.django_db
def test_the_vault_raises_its_own_error_for_a_corrupt_token():
    with pytest.raises(vault.VaultError):
        vault.rotate(CORRUPT)
    with pytest.raises(vault.VaultError):
        vault.decrypt(CORRUPT)


@pytest.mark.django_db
def test_the_member_list_shows_an_unreadable_cell_instead_of_an_error(client, standard):
    members = [MemberFactory() for _ in range(3)]
    _set_raw(members[0].pk, mobile=CORRUPT, name="not even a token")
    client.force_login(UserFactory(perms=["members.view_member"]))
    response = client.get(reverse("admin:members_member_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "无法解密" in page and members[1].postal_no in page and members[0].postal_no in page
    change = client.get(reverse("admin:members_member_change", args=[members[0].pk]))
    assert change.status_code == 200 and "无法解密" in change.content.decode()


@pytest.mark.django_db
def test_the_till_path_loads_a_member_whose_unused_column_is_corrupt(standard):
    merchant = MerchantFactory()
    member = MemberFactory()
    link = LinkFactory(member=member, merchant=merchant, external_id="VIP-CORRUPT-1")
    _set_raw(member.pk, id_number=CORRUPT)
    assert find_member(mobile=member.mobile) == member
    assert get_member_by_credential(merchant=merchant, external_id=link.external_id) == member
    ref = codes.ref_for(member=member, merchant=merchant)
    for with_pii in (False, True):
        loaded = credentials.resolve(credentials.MemberName.parse(ref), merchant=merchant, terminal=None,
                                     mobile_allowed=False, with_pii=with_pii).member
        assert loaded.pk == member.pk and loaded.masked_id_number == "无法解密"
    # saving the member again keeps the stored token (nothing replaced by a placeholder)
    services.update_member(member=member, name="新名字")
    assert _raw(member.pk, "id_number") == CORRUPT
    with pytest.raises(ParamError, match="无法解密"):
        services.reveal_pii(user=UserFactory(perms=["members.reveal_pii"]), member=member, field="id_number",
                            reason="核实身份")


# --- 22: consent for a closed member, card numbers not shown ---------------------------------


@pytest.mark.django_db
def test_consent_cannot_be_granted_for_a_closed_member(member, merchant):
    services.update_member(member=member, status=Member.Status.CLOSED)
    with pytest.raises(ParamError, match="会员已注销"):
        services.grant_consent(member=member, merchant=merchant)
    assert not member.consents.exists()


@pytest.mark.django_db
def test_a_card_number_is_never_shown_in_full_on_the_ops_site(client, standard):
    card = "13955556666"  # Chinese tills often use the mobile as the card number
    merchant = MerchantFactory()
    member = MemberFactory()
    user = UserFactory()
    user.groups.add(Group.objects.get(name="运营"))
    client.force_login(user)
    added = client.post(
        reverse("admin:members_vendormemberlink_add"),
        {"member": member.pk, "merchant": merchant.pk, "external_id": card, "verified_method": "operator"},
    )
    assert added.status_code == 302
    link = VendorMemberLink.objects.get()
    assert link.external_id == card  # stored as the till sends it: its lookup stays exact
    assert card not in str(link) and card not in LogEntry.objects.get().object_repr
    url = reverse("admin:members_vendormemberlink_changelist")
    for page in (
        client.get(url),
        client.get(url, {"q": card}, follow=True),
        client.get(reverse("admin:members_vendormemberlink_change", args=[link.pk])),
        client.get(reverse("admin:members_member_change", args=[member.pk])),
    ):
        assert page.status_code == 200
        assert card not in page.content.decode() and "55556666" not in page.content.decode()
    assert "*******6666" in client.get(url).content.decode()
    assert "VIP" not in client.get(url, {"q": card[:7]}).content.decode()
    assert find_member(merchant=merchant, external_id=card) == member
