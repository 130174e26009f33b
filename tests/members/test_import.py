"""`manage.py import_members`: encodings, rejected lines with reasons, idempotent re-runs."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from members.models import Member
from members.selectors import find_member
from tests.members.factories import MemberFactory, make_id_number

HEADER = "邮政会员号,姓名,手机号,身份证号,会员等级"


def _write(path, lines, encoding="utf-8", bom=False):
    data = b"".join((line.encode(enc) if isinstance(line, str) else line) + b"\r\n" for line, enc in lines)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _utf8(*lines):
    return [(line, "utf-8") for line in lines]


def _run(path, *args):
    out = io.StringIO()
    call_command("import_members", str(path), *args, stdout=out, stderr=io.StringIO(), verbosity=0)
    return out.getvalue()


def _summary(output):
    return output.strip().splitlines()[-1]


def _rejected(output):
    return [line for line in output.splitlines() if line.startswith("line ")]


def _table():
    """Everything stored, ciphertext included: a no-op import leaves it byte for byte."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT m::text FROM members_member m ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def mixed_file(tmp_path):
    return _write(
        tmp_path / "export.csv",
        [
            *_utf8(
                HEADER,                                                        # 1
                f"JX1000000001,张三,13800000001,{make_id_number(1)},普卡",     # 2 good
                "JX1000000002,李四,2380000002,,银卡",                          # 3 bad mobile
                "JX1000000003,王五,13800000003,,铜卡",                         # 4 unknown tier
                "JX1000000004,赵六,13800000004,,gold",                         # 5 good, tier by code
                "JX1000000001,张三丰,13800000011,,普卡",                       # 6 duplicate postal number
            ),
            ("JX1000000005,陈七,13800000005,,金卡", "gbk"),                    # 7 a GBK line
            *_utf8(
                "JX1000000006,周八,13800000006,,钻石卡",                       # 8 good
                "",                                                            # 9 blank: skipped
            ),
        ],
    )


@pytest.mark.django_db
def test_bad_lines_are_reported_good_lines_imported_and_rerun_is_a_no_op(mixed_file, tmp_path):
    report = tmp_path / "rejected.csv"
    output = _run(mixed_file, "--report", str(report))
    assert "encoding=utf-8" in output
    assert _rejected(output) == [
        "line 3: 手机号格式不正确（应为1开头的11位数字）",
        "line 4: 未知会员等级：铜卡",
        "line 6: 邮政会员号在文件中重复（首次出现在第2行）",
        "line 7: 编码错误：该行不是UTF-8编码（整个文件按UTF-8读取）",
    ]
    assert _summary(output) == "created=3 updated=0 unchanged=0 rejected=4"
    assert {(m.postal_no, m.name, m.mobile, m.tier.code) for m in Member.objects.all()} == {
        ("JX1000000001", "张三", "13800000001", "standard"),
        ("JX1000000004", "赵六", "13800000004", "gold"),
        ("JX1000000006", "周八", "13800000006", "diamond"),
    }
    assert find_member(mobile="13800000001").id_number == make_id_number(1)
    with report.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["行号", "邮政会员号", "原因"],
        ["3", "JX1000000002", "手机号格式不正确（应为1开头的11位数字）"],
        ["4", "JX1000000003", "未知会员等级：铜卡"],
        ["6", "JX1000000001", "邮政会员号在文件中重复（首次出现在第2行）"],
        ["7", "JX1000000005", "编码错误：该行不是UTF-8编码（整个文件按UTF-8读取）"],
    ]

    before = _table()
    again = _run(mixed_file)
    assert _summary(again) == "created=0 updated=0 unchanged=3 rejected=4"
    assert _rejected(again) == _rejected(output)
    assert _table() == before


@pytest.mark.django_db
def test_a_gbk_export_imports(tmp_path):
    path = _write(
        tmp_path / "gbk.csv",
        [
            (HEADER, "gbk"),
            (f"JX2000000001,欧阳娜娜,13900000001,{make_id_number(7)},白金卡", "gbk"),
            ("JX2000000002,李强,13900000002,,银卡", "gbk"),
        ],
    )
    output = _run(path)
    assert "encoding=gbk" in output
    assert _summary(output) == "created=2 updated=0 unchanged=0 rejected=0"
    member = find_member(mobile="13900000001")
    assert (member.name, member.tier.name, member.id_number) == ("欧阳娜娜", "白金卡", make_id_number(7))
    assert _summary(_run(path, "--encoding", "gbk")) == "created=0 updated=0 unchanged=2 rejected=0"


@pytest.mark.django_db
def test_utf8_with_bom_and_english_headers(tmp_path):
    path = _write(
        tmp_path / "bom.csv",
        _utf8("postal_no,name,mobile,tier,branch", "JX3000000001,刘洋,13700000001,Silver,南昌分行"),
        bom=True,
    )
    output = _run(path)
    assert _summary(output) == "created=1 updated=0 unchanged=0 rejected=0"
    member = Member.objects.get(postal_no="JX3000000001")
    assert (member.name, member.tier.code, member.id_number) == ("刘洋", "silver", "")


@pytest.mark.django_db
def test_a_changed_export_updates_the_member(tmp_path):
    first = _write(tmp_path / "v1.csv", _utf8(HEADER, "JX4000000001,黄磊,13600000001,,普卡"))
    _run(first)
    second = _write(tmp_path / "v2.csv", _utf8(HEADER, "JX4000000001,黄磊,13600000009,,金卡"))
    assert _summary(_run(second)) == "created=0 updated=1 unchanged=0 rejected=0"
    member = Member.objects.get(postal_no="JX4000000001")
    assert (member.mobile, member.tier.code) == ("13600000009", "gold")
    assert find_member(mobile="13600000001") is None


@pytest.mark.django_db
def test_more_reasons_each_on_its_line(tmp_path):
    existing = MemberFactory(mobile="13500000001")
    path = _write(
        tmp_path / "more.csv",
        _utf8(
            HEADER,
            "JX5000000001,吴九,13500000001,,普卡",          # 2 mobile of another member
            "JX5000000002,郑十,13500000002,110105194912310021,普卡",  # 3 bad check digit
            "JX5000000003,冯一,13500000003,普卡",           # 4 a column missing
            "JX5000000004,,1350000000,,",                   # 5 several problems at once
            "JX5000000005,褚二,13500000005,,普卡,,,",       # 6 trailing empty cells are fine
        ),
    )
    output = _run(path)
    assert _rejected(output) == [
        "line 2: 手机号已被其他会员使用",
        "line 3: 身份证号校验位不正确",
        "line 4: 列数不正确（应为5列，实际4列）",
        "line 5: 姓名不能为空；手机号格式不正确（应为1开头的11位数字）；会员等级不能为空",
    ]
    assert _summary(output) == "created=1 updated=0 unchanged=0 rejected=4"
    assert Member.objects.get(pk=existing.pk).postal_no == existing.postal_no
    assert set(Member.objects.values_list("postal_no", flat=True)) == {existing.postal_no, "JX5000000005"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "文件为空"),
        ("邮政会员号,姓名,手机号\r\n".encode(), "表头缺少必需的列：tier"),
        ("邮政会员号,姓名,手机号,会员等级,tier\r\n".encode(), "表头中的列重复：tier"),
    ],
)
def test_unusable_files_are_refused_as_a_whole(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        _run(path)
    assert not Member.objects.exists()


@pytest.mark.django_db
def test_forcing_the_wrong_encoding_is_refused_at_the_header(tmp_path):
    path = _write(tmp_path / "gbk.csv", [(HEADER, "gbk"), ("JX6000000001,李强,13900000002,,银卡", "gbk")])
    with pytest.raises(CommandError, match="表头无法按该编码解码"):
        _run(path, "--encoding", "utf-8")
    assert not Member.objects.exists()


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="文件不存在"):
        _run(tmp_path / "nope.csv")


@pytest.mark.django_db
def test_progress_bar_is_shown(tmp_path, capsys):
    path = _write(tmp_path / "one.csv", _utf8(HEADER, "JX7000000001,李强,13900000002,,银卡"))
    call_command("import_members", str(path), stdout=io.StringIO())
    assert "2/2" in capsys.readouterr().err


# --- issue 15: findings 15, 19, 20, 21 -----------------------------------------------------


@pytest.mark.django_db
def test_reasons_and_report_never_echo_a_full_mobile_or_id_number(tmp_path):
    report = tmp_path / "rejected.csv"
    path = _write(
        tmp_path / "shifted.csv",
        [
            *_utf8(
                HEADER,
                "JX8000000001,张三,13800000001,,13900000021",           # 2 mobile shifted into the tier column
                f"JX8000000002,李四,13800000002,,{make_id_number(5)}",   # 3 an ID number there
            ),
            ("13900000022,陈七,13800000003,,金卡", "gbk"),              # 4 undecodable; a mobile where the postal number goes
            *_utf8("11010519491231002X,王五,1380000000,,普卡"),         # 5 an ID number in the postal column
        ],
    )
    output = _run(path, "--report", str(report))
    written = report.read_text(encoding="utf-8-sig")
    for secret in ("13900000021", "13900000022", make_id_number(5), "11010519491231002X", "900000021"):
        assert secret not in output and secret not in written
    assert _rejected(output) == [
        "line 2: 未知会员等级：*******0021",
        f"line 3: 未知会员等级：{'*' * 14}{make_id_number(5)[-4:]}",
        "line 4: 编码错误：该行不是UTF-8编码（整个文件按UTF-8读取）",
        "line 5: 手机号格式不正确（应为1开头的11位数字）",
    ]
    rows = list(csv.reader(io.StringIO(written)))
    assert [row[1] for row in rows[1:]] == ["JX8000000001", "JX8000000002", "*******0022", "*************1002X"]


@pytest.mark.django_db
def test_utf8_lines_pasted_into_a_gbk_file_are_refused_not_garbled(tmp_path):
    path = _write(
        tmp_path / "mixed.csv",
        [
            (HEADER, "gbk"),
            ("JX9000000001,李强,13900000001,,银卡", "gbk"),
            ("JX9000000002,张三,13900000002,,gold", "utf-8"),  # pasted from a UTF-8 file
            ("JX9000000003,欧阳娜娜,13900000003,,gold", "gbk"),
        ],
    )
    output = _run(path)
    assert "encoding=gbk" in output
    assert _rejected(output) == ["line 3: 编码错误：该行是UTF-8编码（整个文件按GBK读取），请统一文件编码"]
    assert _summary(output) == "created=2 updated=0 unchanged=0 rejected=1"
    assert sorted(Member.objects.values_list("postal_no", flat=True)) == ["JX9000000001", "JX9000000003"]
    assert {m.name for m in Member.objects.all()} == {"李强", "欧阳娜娜"}


@pytest.mark.django_db
def test_a_file_that_swaps_two_mobiles_imports_and_a_rerun_is_a_no_op(tmp_path):
    first = MemberFactory(postal_no="JXSWAP000001", name="甲", mobile="13600000001")
    second = MemberFactory(postal_no="JXSWAP000002", name="乙", mobile="13600000002")
    path = _write(
        tmp_path / "swap.csv",
        _utf8(
            HEADER,
            f"JXSWAP000001,甲,13600000002,{first.id_number},普卡",
            f"JXSWAP000002,乙,13600000001,{second.id_number},普卡",
        ),
    )
    output = _run(path)
    assert _summary(output) == "created=0 updated=2 unchanged=0 rejected=0", output
    assert find_member(mobile="13600000002") == first and find_member(mobile="13600000001") == second
    before = _table()
    assert _summary(_run(path)) == "created=0 updated=0 unchanged=2 rejected=0"
    assert _table() == before


@pytest.mark.django_db
def test_a_mobile_freed_by_a_later_line_is_taken_in_the_same_run(tmp_path):
    first = MemberFactory(postal_no="JXFREE000001", name="甲", mobile="13600000011")
    second = MemberFactory(postal_no="JXFREE000002", name="乙", mobile="13600000012")
    outsider = MemberFactory(mobile="13600000099")
    path = _write(
        tmp_path / "chain.csv",
        _utf8(
            HEADER,
            f"JXFREE000001,甲,13600000012,{first.id_number},普卡",   # wants the mobile line 3 frees
            f"JXFREE000002,乙,13600000013,{second.id_number},普卡",
            "JXFREE000003,丙,13600000099,,普卡",                      # held by a member not in the file
            "JXFREE000004,丁,13600000011,,普卡",                      # freed by line 2
        ),
    )
    output = _run(path)
    assert _rejected(output) == ["line 4: 手机号已被其他会员使用"]
    assert _summary(output) == "created=1 updated=2 unchanged=0 rejected=1"
    assert find_member(mobile="13600000012") == first and find_member(mobile="13600000013") == second
    assert find_member(mobile="13600000011").postal_no == "JXFREE000004"
    assert find_member(mobile="13600000099") == outsider
    again = _run(path)
    assert _summary(again) == "created=0 updated=0 unchanged=3 rejected=1"


@pytest.mark.django_db
def test_a_carriage_return_inside_a_cell_rejects_only_that_line(tmp_path):
    path = tmp_path / "cr.csv"
    path.write_bytes(
        (HEADER + "\r\n").encode()
        + "JXCR00000001,张\r三,13900000031,,普卡\r\n".encode()
        + '"JXCR00000002","李\r四",13900000032,,普卡\r\n'.encode()
        + "JXCR00000003,王五,13900000033,,普卡\r\n".encode()
    )
    output = _run(path)
    assert [line.split(":")[0] for line in _rejected(output)] == ["line 2", "line 3"]
    assert all("换行符" in line for line in _rejected(output))
    assert _summary(output) == "created=1 updated=0 unchanged=0 rejected=2"


@pytest.mark.django_db
def test_a_file_with_cr_only_line_ends_gets_the_chinese_refusal(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes((HEADER + "\rJXCR00000010,张三,13900000041,,普卡\r").encode())
    with pytest.raises(CommandError, match="换行符无法识别"):
        _run(path)
    assert not Member.objects.exists()
