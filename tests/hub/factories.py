"""Factories for the merchant network. Credentials are made through the service
(``make_credential``), never by writing the model directly, so they are always valid."""

from __future__ import annotations

from pathlib import Path

import factory
from factory.django import DjangoModelFactory

from hub.credentials import issue_credential
from hub.models import Credential, Merchant, Store, Terminal, Vendor

FANGXIANG_TEST_PUBLIC_KEY = (Path(__file__).resolve().parents[2] / "hub" / "fixtures" / "fangxiang_test_vendor_public.pem").read_text()


class VendorFactory(DjangoModelFactory):
    class Meta:
        model = Vendor
        django_get_or_create = ("code",)

    code = Vendor.KEMAI
    name = factory.LazyAttribute(lambda o: dict(Vendor.CODE_CHOICES)[o.code])
    auth_scheme = factory.LazyAttribute(
        lambda o: Vendor.AuthScheme.RSA if o.code == Vendor.FANGXIANG else Vendor.AuthScheme.SECRET
    )


class MerchantFactory(DjangoModelFactory):
    class Meta:
        model = Merchant

    code = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"测试商户{n}")
    scene = Merchant.Scene.SUPERMARKET
    vendor = factory.SubFactory(VendorFactory)


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"测试门店{n}")


class TerminalFactory(DjangoModelFactory):
    class Meta:
        model = Terminal

    store = factory.SubFactory(StoreFactory)
    code = factory.Sequence(lambda n: f"P{n:02d}")


def make_credential(*, merchant: Merchant | None = None, vendor: Vendor | None = None, **kwargs) -> tuple[Credential, str | None]:
    """Issue a credential through hub.credentials; returns (credential, plaintext secret or None).

    A Fangxiang (RSA) credential gets the Fangxiang test public key unless one is given.
    """
    if merchant is None:
        merchant = MerchantFactory(vendor=vendor or VendorFactory())
    vendor = vendor or merchant.vendor or VendorFactory()
    if vendor.auth_scheme == Vendor.AuthScheme.RSA:
        kwargs.setdefault("rsa_public_key", FANGXIANG_TEST_PUBLIC_KEY)
    return issue_credential(merchant=merchant, vendor=vendor, **kwargs)
