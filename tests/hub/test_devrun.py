"""`make run`'s pieces: idempotent demo/sandbox seeding whose credentials reproduce the vendor
documents' test vectors, the admin user, the broker folders and stopping the children."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import signal
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from hub.credentials import active_secrets, credential_for_app_key
from hub.demo import seed, seed_vendors
from hub.errors import NoAuth
from hub.management.commands import devrun
from hub.models import Credential, Merchant, Store, Terminal, Vendor

pytestmark = pytest.mark.django_db

TABLES = ["hub_vendor", "hub_merchant", "hub_store", "hub_terminal", "hub_credential", "members_member",
          "points_program", "points_agreement", "points_operation", "points_posting"]


def snapshot() -> dict:
    """Every row of the network tables as stored (ciphertext included)."""
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - fixed table names
            rows[table] = cursor.fetchall()
    return rows


def test_seed_creates_the_network_once_and_rerunning_changes_nothing():
    first = seed()
    # One sandbox merchant (with store, till and credential) per registered dialect: the six of
    # the hub (the cloud POS included) and the test suite's toy dialect. Vendor rows exist since
    # migrate. The demo members consent to every sandbox merchant (5 × 7) besides their three
    # links; the rights step adds the demo scenic spot (merchant, gate store, gate, its native gate credential) and gives each
    # member two vouchers; the cloud POS step adds the sandbox's and the fresh market's cashier
    # and device; the mini-program step adds a second program (赣味小馆积分)
    # and the two conversion rates with the postal program.
    assert first == {"vendors": 0, "merchants": 11, "stores": 15, "terminals": 22, "credentials": 8,
                     "members": 5, "member_links": 3, "consents": 38, "programs": 2, "agreements": 10, "grants": 5,
                     "rights": 4, "vouchers": 10, "cashiers": 2, "pos_devices": 2,
                     "conversion_rates": 2}
    before = snapshot()

    second = seed()

    assert {kind: n for kind, n in second.items() if n} == {}
    assert snapshot() == before
    assert [Vendor.objects.count(), Merchant.objects.count(), Store.objects.count(),
            Terminal.objects.count(), Credential.objects.count()] == [7, 11, 15, 22, 8]


def test_seed_demo_command_reports_what_it_created():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "credentials +8" in out.getvalue()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "vendors +0, merchants +0, stores +0, terminals +0, credentials +0" in out.getvalue()


def test_seed_leaves_operator_edits_alone():
    seed()
    Merchant.objects.filter(code="DEMO_MKT").update(name="改名后的菜场")
    Store.objects.filter(merchant__code="DEMO_FOOD", code="S004").update(active=False)
    seed()
    assert Merchant.objects.get(code="DEMO_MKT").name == "改名后的菜场"
    assert not Store.objects.get(merchant__code="DEMO_FOOD", code="S004").active


def test_vendor_rows_follow_the_registry_after_migrate():
    from hub.gateway import registry

    assert dict(Vendor.objects.values_list("code", "auth_scheme")) == {
        code: adapter.auth_scheme for code, adapter in registry.adapters().items()}
    assert Vendor.objects.get(code="toy").name == registry.get_adapter("toy").name  # the test-only dialect
    assert dict(Vendor.CODE_CHOICES) == {code: a.name for code, a in registry.adapters().items()}


def test_seed_vendors_gives_fangxiang_its_rsa_scheme():
    Vendor.objects.filter(code=Vendor.FANGXIANG).update(auth_scheme="secret")  # e.g. edited by hand
    Vendor.objects.filter(code="toy").delete()
    assert seed_vendors() == 1
    assert Vendor.objects.get(code=Vendor.FANGXIANG).auth_scheme == Vendor.AuthScheme.RSA
    assert set(Vendor.objects.exclude(code=Vendor.FANGXIANG).values_list("auth_scheme", flat=True)) == {"secret"}


def test_network_content_matches_the_vendor_test_vectors():
    seed()
    issuer = Merchant.objects.get(code="CPJX")
    assert issuer.kind == Merchant.Kind.ISSUER and issuer.name == "中国邮政江西省分公司（邮政金融积分）"

    expected = {
        "zbw_test_app": (Vendor.ZHIBAIWEI, "01", "03"),
        "km_test_app": (Vendor.KEMAI, "S001", "P03"),
        "sx_test_app": (Vendor.SIXUN, "S001", "P03"),
        "fx_test_app": (Vendor.FANGXIANG, "S001", "P03"),
        "hub_test_app": (Vendor.NATIVE, "S001", "P03"),
    }
    for app_key, (vendor, store_code, till_code) in expected.items():
        credential = Credential.objects.select_related("merchant", "vendor").get(app_key=app_key)
        assert credential.is_sandbox and credential.vendor.code == vendor
        assert credential.merchant.vendor.code == vendor
        store = credential.merchant.stores.get(code=store_code)
        assert store.terminals.filter(code=till_code, kind=Terminal.Kind.POS).exists()
    assert Credential.objects.get(app_key="sx_test_app").merchant.code == "M0001"

    scenes = dict(Merchant.objects.filter(code__startswith="DEMO_").values_list("code", "scene"))
    assert scenes == {"DEMO_MKT": Merchant.Scene.MARKET, "DEMO_FOOD": Merchant.Scene.RESTAURANT,
                      "DEMO_SCENIC": Merchant.Scene.OTHER}
    assert Terminal.objects.filter(store__merchant__code="DEMO_MKT", kind=Terminal.Kind.CLOUD_POS).count() == 6


def _secret(app_key: str) -> str:
    secrets = active_secrets(credential_for_app_key(app_key))
    assert len(secrets) == 1
    return secrets[0]


def test_sandbox_credentials_reproduce_the_vendor_test_vectors(settings):
    settings.DEBUG = True  # pytest-django runs with DEBUG off, where sandbox credentials are refused
    seed()

    # 智百威 KEY
    nonce, parm = "a1B2c3D4", (
        '{"BranchJg":"01","OperID":"1001","PosID":"03","SheetNo":"XY0120261125000123",'
        '"VipNo":"960000000000000000","SheetAmt":"128.50","sDateTime":"2026-11-25 15:30:01","Memo":""}'
    )
    digest = hashlib.md5(f"{nonce}|zbw_test_app|{_secret('zbw_test_app')}|20261125153001|{parm}".encode()).hexdigest()
    assert nonce[:4] + digest.upper() + nonce[4:] == "a1B22B4C41BB199320F2DC3A82D57E8A8899c3D4"

    # 科脉 request and response signatures
    km = _secret("km_test_app").encode()
    body = (
        '{"out_trade_no":"KM20261125000123","store_no":"S001","pos_no":"P03","cashier_no":"1001",'
        '"member_id":"M8KZ3Q7T","order_amount":12850,"trade_time":"2026-11-25T15:30:01+08:00"}'
    )
    sign = f"POST\n/gateway/kemai/v1/points/earn\n1764055801\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n{body}\n"
    assert base64.b64encode(hmac.new(km, sign.encode(), hashlib.sha256).digest()).decode() == (
        "j6YaRyIXUCrIojHqCiI276JoVfdZZ/V55Wc7DjlnkBI="
    )
    reply = '1764055802\n0f9e8d7c6b5a49382716\n{"code":"SUCCESS","message":"OK"}\n'
    assert base64.b64encode(hmac.new(km, reply.encode(), hashlib.sha256).digest()).decode() == (
        "1YZc1N11e+ehd0QjqCCn+rgwB10UDmeZjvH5lV18HrA="
    )

    # 思迅 MD5 and HMAC-SHA256
    sx = _secret("sx_test_app")
    fields = (
        "appid=sx_test_app&device_info=P03&mch_id=M0001&member_code=960000000000000000&nonce_str=ibuaiVcKdpRxkhJA"
        "&out_trade_no=SX20261125000123&service=point.earn&sign_type={}&store_id=S001&timestamp=1764055801&total_fee=12850"
    )
    md5_string = fields.format("MD5") + f"&key={sx}"
    assert hashlib.md5(md5_string.encode()).hexdigest().upper() == "33AB905BD6A136019C2F3E781D2B53BF"
    hmac_string = fields.format("HMAC-SHA256") + f"&key={sx}"
    assert hmac.new(sx.encode(), hmac_string.encode(), hashlib.sha256).hexdigest().upper() == (
        "4DEED435A589358E82EBE1EB975F7F5575B6AE426AF2493E6C165D78B22D9DA0"
    )

    # 方象 RSA2, verified with the registered public key
    fx = credential_for_app_key("fx_test_app")
    assert active_secrets(fx) == ()
    key = serialization.load_pem_public_key(fx.rsa_public_key.encode())
    sign_string = (
        'app_id=fx_test_app&biz_content={"out_trade_no":"FX20261125000123","store_id":"S001","terminal_id":"P03",'
        '"member_code":"960000000000000000","total_amount":"128.50"}&charset=utf-8&format=JSON&method=fx.point.earn'
        "&sign_type=RSA2&timestamp=2026-11-25 15:30:01&version=1.0"
    )
    signature = base64.b64decode(
        "DGDbffpmaTRFLvL7xzL4vH8qaGUJWYpYsg+M+EylF0E/lbdwtDYXuoqozBV9S2g/GPQaS5GmI3dIGDv3TXdv5AiRQ3wTzj6i3gxqXrrSAwya"
        "WAkaN+AbJTyISw8aAvTmriPfGVp7bvAEGAhcLPzqckx6sNcZ32F1VS//n7qdSMd86emT5JGUvkxwI949Nx2PTm4bJ3uQJQ+4rJhqvCR7FGIB"
        "LDMX6wZLcE7m8mFE5B6AJUZg6oPc0kxdhIB9XqVAyZljgVbEtfU2xU7gQpF2w/B64SYOU7ePijp8ESNkRqw0MQsGpBngVtsgkMz9xNixwYdD"
        "faGqmsHG0Ax7Bh3A2g=="
    )
    key.verify(signature, sign_string.encode(), padding.PKCS1v15(), hashes.SHA256())  # raises if wrong

    # the hub's own protocol
    assert _secret("hub_test_app") == "hub-test-secret-0001"


def test_sandbox_credentials_are_refused_with_debug_off(settings):
    seed()
    settings.DEBUG = False
    for app_key in ["zbw_test_app", "km_test_app", "sx_test_app", "fx_test_app", "hub_test_app"]:
        with pytest.raises(NoAuth):
            credential_for_app_key(app_key)


# ---- devrun helpers ------------------------------------------------------------------------


def test_ensure_admin_creates_the_superuser_once():
    assert devrun.ensure_admin() is True
    user = get_user_model().objects.get(username=devrun.ADMIN_USER)
    assert user.is_superuser and user.is_staff and user.check_password(devrun.ADMIN_PASSWORD)
    user.set_password("changed-by-someone")
    user.save()
    assert devrun.ensure_admin() is False
    assert get_user_model().objects.get(username=devrun.ADMIN_USER).check_password("changed-by-someone")


def test_broker_folders_are_made_for_the_filesystem_transport(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_FOLDER = tmp_path / "broker"
    devrun.ensure_broker_folders()
    assert (tmp_path / "broker" / "processed").is_dir()

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_FOLDER = tmp_path / "unused"
    devrun.ensure_broker_folders()
    assert not (tmp_path / "unused").exists()


def test_child_commands():
    commands = devrun.child_commands("127.0.0.1:8123")
    assert [c[1:6] for c in commands[:2]] == [["-m", "celery", "-A", "hub", "worker"], ["-m", "celery", "-A", "hub", "beat"]]
    assert all(c[0] == sys.executable for c in commands[:2])
    web = commands[2]
    assert web[0].endswith("gunicorn") and web[1] == "hub.wsgi"  # the production server, not runserver
    assert web[web.index("--bind") + 1] == "127.0.0.1:8123"
    assert int(web[web.index("--workers") + 1]) == devrun.web_workers() >= 3
    assert int(web[web.index("--backlog") + 1]) >= 1024
    dev = devrun.child_commands("127.0.0.1:8123", celery=False, dev=True)
    assert len(dev) == 1 and dev[0][0] == sys.executable and dev[0][-2:] == ["runserver", "127.0.0.1:8123"]
    assert "--noreload" not in dev[0]  # --dev keeps Django's auto-reload


def test_web_workers_are_sized_to_the_machine():
    assert [devrun.web_workers(n) for n in (1, 2, 4, 64)] == [3, 5, 9, 17]


def test_stop_children_terminates_and_kills_stubborn_ones():
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert stubborn.stdout.readline().strip() == "ready"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()

    devrun.stop_children([polite, stubborn, finished], timeout=1)

    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    assert finished.returncode == 0
    stubborn.stdout.close()


# ---- `make run`'s web server under a storm of tills ---------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_make_run_web_server_holds_40_simultaneous_redemptions(settings, tmp_path):
    """The web server `make run` starts (devrun.web_command), 40 tills redeeming from one member
    over 40 connections at the same moment: every connection answered, exactly as many
    redemptions succeed as the balance covers, the rest refused as insufficient."""
    import http.client
    import importlib
    import os
    import socket
    import threading
    import time
    from pathlib import Path

    from django.utils import timezone

    from hub.gateway import registry
    from hub.gateway.canonical import TillCommand
    from members.codes import issue_strong_ref
    from members.models import Tier
    from members.selectors import find_member
    from points import selectors
    from points.models import Program
    from tests.hub.gateway.conftest import test_database_url

    settings.DEBUG = True
    # a transactional test before this one flushed the tiers the migrations made: put them back
    for code, name, rank in importlib.import_module("members.migrations.0002_tiers").TIERS:
        Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})
    seed()
    adapter = registry.get_adapter("native")
    box = adapter.sandbox
    merchant = Merchant.objects.get(code=box.merchant)
    member = find_member(mobile="13800000003")
    program = Program.objects.get(code="POSTAL")
    balance = selectors.balances(member, program)["available"]
    # a strong ref, as an identify by dynamic code at the sandbox till returns (redeem needs one)
    till = Terminal.objects.get(store__merchant=merchant, store__code=box.store, code=box.till)
    ref = issue_strong_ref(member=member, merchant=merchant, terminal=till)
    points, tills = 3000, 40
    covered = balance // points
    assert 0 < covered < tills

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    keys_file = Path(__file__).resolve().parents[1] / "fixtures" / "fangxiang" / "hub_test_private.pem"
    env = dict(os.environ, DATABASE_URL=test_database_url(), DEBUG="1", LOG_LEVEL="WARNING",
               FANGXIANG_HUB_PRIVATE_KEY=keys_file.read_text())
    command = devrun.web_command(f"127.0.0.1:{port}", workers=devrun.web_workers())
    command = [c for c in command if c not in ("--access-logfile", "-")]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        now = timezone.now()
        specs = [adapter.build_request(
            TillCommand(op="redeem", store_code=box.store, terminal_code=box.till, request_no=f"STORM{i:03d}",
                        member=ref, points=points),
            keys=box.keys(), nonce=f"storm-nonce-{i:03d}", timestamp=now) for i in range(tills)]
        start = threading.Barrier(tills)
        answers: list = [None] * tills

        def till(i):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.connect()
                start.wait()
                spec = specs[i]
                conn.request(spec.method, spec.path, body=spec.body,
                             headers={"Content-Type": spec.content_type, **spec.headers})
                response = conn.getresponse()
                answers[i] = adapter.read_response(response.status, dict(response.getheaders()), response.read(),
                                                   box.keys())
            except OSError as exc:
                answers[i] = exc
            finally:
                conn.close()

        threads = [threading.Thread(target=till, args=(i,)) for i in range(tills)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
    finally:
        server.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
            server.stderr.close()
    errors = [a for a in answers if not hasattr(a, "ok")]
    assert errors == [], errors  # no connection reset, no missing answer
    codes = sorted(a.code for a in answers)
    assert codes.count("SUCCESS") == covered, codes
    assert set(codes) == {"SUCCESS", "POINTS_INSUFFICIENT"}, codes
    assert selectors.balances(member, program)["available"] == balance - covered * points
    assert server.returncode is not None  # Ctrl-C stopped it
