"""Member services: validation, uniqueness (pre-check and constraint), tiers, import upsert."""

import pytest

from hub.errors import MemberNotFound, ParamError
from members import services, vault
from members.models import Member
from tests.members.factories import MemberFactory, make_id_number, tier


def _snapshot():
    return sorted(
        Member.objects.values_list("postal_no", "mobile_index", "id_number_index", "tier_id", "status")
    )


@pytest.mark.django_db
def test_register_stores_values_with_blind_indexes(standard):
    member = services.register_member(
        postal_no="JX2024000001", name=" 王小明 ", mobile="13812345678", id_number="11010519491231002x", tier=standard
    )
    stored = Member.objects.get(pk=member.pk)
    assert (stored.name, stored.mobile, stored.id_number) == ("王小明", "13812345678", "11010519491231002X")
    assert stored.mobile_index == vault.blind_index("13812345678", purpose="mobile")
    assert stored.id_number_index == vault.blind_index("11010519491231002X", purpose="id_number")
    assert stored.mobile_index != vault.blind_index("13812345678", purpose="id_number")
    assert stored.tier == standard and stored.status == Member.Status.ACTIVE
    assert (stored.masked_name, stored.masked_mobile, stored.masked_id_number) == (
        "**明", "138****5678", "1101**********002X"
    )


@pytest.mark.django_db
def test_register_without_id_number_leaves_the_index_empty(standard):
    member = services.register_member(postal_no="JX2024000002", name="李四", mobile="13900000002", tier=standard)
    assert member.id_number == "" and member.id_number_index is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "override, message",
    [
        ({"mobile": "2381234567"}, "手机号格式不正确（应为1开头的11位数字）"),
        ({"mobile": "1381234567"}, "手机号格式不正确（应为1开头的11位数字）"),
        ({"id_number": "110105194912310021"}, "身份证号校验位不正确"),
        ({"postal_no": "12-34"}, "邮政会员号格式不正确（应为6至32位数字或字母）"),
        ({"postal_no": ""}, "邮政会员号不能为空"),
        ({"name": ""}, "姓名不能为空"),
        ({"tier": None}, "请选择有效的会员等级"),
    ],
)
def test_register_refuses_bad_input_and_writes_nothing(standard, override, message):
    MemberFactory()
    before = _snapshot()
    data = {"postal_no": "JX2024000003", "name": "赵六", "mobile": "13800000003", "tier": standard, **override}
    with pytest.raises(ParamError) as caught:
        services.register_member(**data)
    assert caught.value.message == message
    assert _snapshot() == before


@pytest.mark.django_db
def test_duplicate_postal_number_or_mobile_is_refused(member, standard):
    before = _snapshot()
    with pytest.raises(ParamError) as caught:
        services.register_member(postal_no=member.postal_no, name="新人", mobile="13700000000", tier=standard)
    assert caught.value.message == "邮政会员号已存在"
    with pytest.raises(ParamError) as caught:
        services.register_member(postal_no="JX2024999999", name="新人", mobile=member.mobile, tier=standard)
    assert caught.value.message == "手机号已被其他会员使用"
    assert _snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("clash, message", [("postal_no", "邮政会员号已存在"), ("mobile", "手机号已被其他会员使用")])
def test_unique_violation_past_the_precheck_becomes_the_same_param_error(member, standard, monkeypatch, clash, message):
    """What a concurrent writer produces: the pre-check saw nothing, the database refuses."""
    monkeypatch.setattr(services, "_member_conflict", lambda **kwargs: None)
    data = {"postal_no": "JX2024888888", "name": "新人", "mobile": "13700000001", "tier": standard}
    data[clash] = getattr(member, clash)
    before = _snapshot()
    with pytest.raises(ParamError) as caught:
        services.register_member(**data)
    assert caught.value.message == message
    assert _snapshot() == before


@pytest.mark.django_db
def test_update_member_changes_mobile_and_its_index(member):
    old_index = member.mobile_index
    updated = services.update_member(member=member, mobile="13600000000", name="周新名")
    stored = Member.objects.get(pk=member.pk)
    assert stored.mobile == "13600000000" and stored.name == "周新名"
    assert stored.mobile_index == vault.blind_index("13600000000", purpose="mobile") != old_index
    assert updated.mobile == "13600000000"


@pytest.mark.django_db
def test_update_member_refuses_another_members_mobile_and_keeps_data(member):
    other = MemberFactory()
    before = _snapshot()
    with pytest.raises(ParamError, match="手机号已被其他会员使用"):
        services.update_member(member=member, mobile=other.mobile, name="不该保存")
    assert _snapshot() == before
    assert Member.objects.get(pk=member.pk).name == member.name


@pytest.mark.django_db
def test_update_member_with_bad_input_changes_nothing(member, gold):
    before = _snapshot()
    for bad in ({"id_number": "123"}, {"status": "gone"}, {"mobile": "0"}, {"name": " "}):
        with pytest.raises(ParamError):
            services.update_member(member=member, tier=gold, **bad)
    assert _snapshot() == before


@pytest.mark.django_db
def test_update_member_can_clear_the_id_number(member):
    services.update_member(member=member, id_number="")
    stored = Member.objects.get(pk=member.pk)
    assert stored.id_number == "" and stored.id_number_index is None


@pytest.mark.django_db
def test_update_member_tier(member, gold):
    services.update_member_tier(member=member, tier=gold)
    assert Member.objects.get(pk=member.pk).tier == gold
    with pytest.raises(ParamError):
        services.update_member_tier(member=member, tier=None)


@pytest.mark.django_db
def test_update_of_an_unsaved_member_is_member_not_found(standard):
    with pytest.raises(MemberNotFound):
        services.update_member(member=Member(tier=standard), name="某人")


@pytest.mark.django_db
def test_import_member_creates_then_is_unchanged_then_updates(standard, gold):
    data = {"postal_no": "JX2024000100", "name": "陈一", "mobile": "13500000100", "id_number": make_id_number(100)}
    member, outcome = services.import_member(tier=standard, **data)
    assert outcome == services.CREATED
    assert services.import_member(tier=standard, **data)[1] == services.UNCHANGED
    # an empty ID number in the export keeps the one on record
    assert services.import_member(tier=standard, **{**data, "id_number": ""})[1] == services.UNCHANGED
    assert services.import_member(tier=gold, **data)[1] == services.UPDATED
    stored = Member.objects.get(pk=member.pk)
    assert stored.tier == gold and stored.id_number == data["id_number"]
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_import_member_refuses_a_mobile_of_another_member(member, standard):
    before = _snapshot()
    with pytest.raises(ParamError, match="手机号已被其他会员使用"):
        services.import_member(postal_no="JX2024000200", name="某人", mobile=member.mobile, tier=standard)
    assert _snapshot() == before


@pytest.mark.django_db
def test_factory_tier_matches_the_data_migration():
    assert tier("diamond").name == "钻石卡"
