"""Factories for members tests. Members and links are made through the services, so every
fixture row has its blind indexes and encrypted values exactly as production writes them."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from factory.django import DjangoModelFactory

from hub.models import Merchant, Vendor
from members import services
from members.models import Member, Tier, VendorMemberLink
from members.validation import id_check_char

# As created by members/migrations/0002_tiers.py (transactional tests flush them away).
TIERS = {"standard": ("普卡", 1), "silver": ("银卡", 2), "gold": ("金卡", 3), "platinum": ("白金卡", 4), "diamond": ("钻石卡", 5)}
SURNAMES = "张王李赵刘陈杨黄吴周"
GIVEN = "伟芳娜敏静丽强磊军洋"


def tier(code: str = "standard") -> Tier:
    name, rank = TIERS[code]
    return Tier.objects.get_or_create(code=code, defaults={"name": name, "rank": rank})[0]


def make_id_number(n: int) -> str:
    """A valid 18-character ID number: Nanchang district 360102, born in 1990, check digit right."""
    first17 = f"360102199{n % 10}{(n // 10) % 12 + 1:02d}{n % 28 + 1:02d}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def make_mobile(n: int) -> str:
    return f"139{n:08d}"


class VendorFactory(DjangoModelFactory):
    class Meta:
        model = Vendor
        django_get_or_create = ("code",)

    code = Vendor.KEMAI
    name = factory.LazyAttribute(lambda o: dict(Vendor.CODE_CHOICES)[o.code])


class MerchantFactory(DjangoModelFactory):
    class Meta:
        model = Merchant

    code = factory.Sequence(lambda n: f"MM{n:05d}")
    name = factory.Sequence(lambda n: f"会员测试超市{n}")
    scene = Merchant.Scene.SUPERMARKET
    vendor = factory.SubFactory(VendorFactory)


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member

    postal_no = factory.Sequence(lambda n: f"PM{n:010d}")
    name = factory.Sequence(lambda n: SURNAMES[n % 10] + GIVEN[(n // 10) % 10] + GIVEN[n % 10])
    mobile = factory.Sequence(make_mobile)
    id_number = factory.Sequence(make_id_number)
    tier = factory.LazyFunction(tier)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.register_member(**kwargs)


class LinkFactory(DjangoModelFactory):
    class Meta:
        model = VendorMemberLink

    member = factory.SubFactory(MemberFactory)
    merchant = factory.SubFactory(MerchantFactory)
    external_id = factory.Sequence(lambda n: f"VIP{n:08d}")
    method = VendorMemberLink.Method.OPERATOR

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.link_member(**kwargs)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.django.Password("pw-for-tests")

    @factory.post_generation
    def perms(self, create, extracted, **kwargs):
        """``UserFactory(perms=["members.view_member", ...])``."""
        for key in extracted or ():
            app_label, codename = key.split(".")
            self.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
