"""The hub's Fangxiang key: from the setting, a DEBUG-only generated file, or ImproperlyConfigured."""

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from hub.errors import ParamError
from hub.vendors.fangxiang import keys, signing, views
from hub.vendors.fangxiang.adapter import FangxiangAdapter
from tests.hub.vendors.fangxiang.helpers import HUB_PRIVATE, HUB_PUBLIC, VENDOR_PRIVATE


def test_the_configured_key_is_used():
    assert keys.hub_public_key_pem() == HUB_PUBLIC
    assert signing.rsa_verify("m", signing.rsa_sign("m", keys.hub_private_key()), HUB_PUBLIC)


def test_a_configured_key_with_escaped_newlines_is_read(settings):
    settings.FANGXIANG_HUB_PRIVATE_KEY = HUB_PRIVATE.replace("\n", "\\n")
    assert keys.hub_public_key_pem() == HUB_PUBLIC


def test_unset_with_debug_generates_one_key_and_keeps_it(settings, tmp_path):
    settings.FANGXIANG_HUB_PRIVATE_KEY = None
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    first = keys.hub_public_key_pem()
    path = tmp_path / ".run" / "fangxiang_hub_private.pem"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.hub_private_key().key_size == 2048
    assert keys.hub_public_key_pem() == first  # reused, not regenerated
    assert first != HUB_PUBLIC
    assert [p.name for p in path.parent.iterdir()] == ["fangxiang_hub_private.pem"]  # no temporary left


def test_an_existing_dev_key_file_is_never_overwritten(settings, tmp_path):
    settings.FANGXIANG_HUB_PRIVATE_KEY = None
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "fangxiang_hub_private.pem").write_text(HUB_PRIVATE)
    keys._generate_dev_key(tmp_path / ".run" / "fangxiang_hub_private.pem")  # a racing worker loses
    assert keys.hub_public_key_pem() == HUB_PUBLIC


def test_unset_without_debug_is_improperly_configured(settings, tmp_path):
    settings.FANGXIANG_HUB_PRIVATE_KEY = None
    settings.DEBUG = False
    settings.BASE_DIR = tmp_path
    with pytest.raises(ImproperlyConfigured, match="FANGXIANG_HUB_PRIVATE_KEY"):
        keys.hub_private_key()
    assert not (tmp_path / ".run").exists()
    with pytest.raises(ImproperlyConfigured):
        FangxiangAdapter().render(None, ParamError(), None)


@pytest.mark.parametrize("bad", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"])
def test_a_malformed_configured_key_is_improperly_configured(settings, bad):
    settings.FANGXIANG_HUB_PRIVATE_KEY = bad
    with pytest.raises(ImproperlyConfigured):
        keys.hub_private_key()


def test_a_short_key_is_refused(settings):
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    settings.FANGXIANG_HUB_PRIVATE_KEY = short
    with pytest.raises(ImproperlyConfigured, match="2048"):
        keys.hub_private_key()


def test_the_public_key_view_serves_the_pem():
    response = views.public_key(RequestFactory().get("/gateway/fangxiang/public-key"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response.content.decode() == HUB_PUBLIC
    assert views.public_key(RequestFactory().post("/gateway/fangxiang/public-key")).status_code == 405


def test_the_public_key_follows_the_setting(settings):
    settings.FANGXIANG_HUB_PRIVATE_KEY = VENDOR_PRIVATE
    response = views.public_key(RequestFactory().get("/gateway/fangxiang/public-key"))
    assert response.content.decode() != HUB_PUBLIC


def test_get_urls_routes_the_gateway_to_the_view_and_the_key_to_its_own_view():
    def gateway_view(request):
        return None

    gateway, public = FangxiangAdapter().get_urls(gateway_view)
    assert (str(gateway.pattern), gateway.callback) == ("gateway.do", gateway_view)
    assert (str(public.pattern), public.callback) == ("public-key", views.public_key)
