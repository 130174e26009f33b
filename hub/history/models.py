"""History of configuration, kept by PostgreSQL triggers (django-pghistory), so that changes by
the admin, by a service, by a bulk ``update()`` and by raw SQL are all recorded alike: for each
insert, update and delete a row with the new (or, for a delete, the last) values, when, and the
context of the change (the signed-in user and the URL, from hub.history.middleware; empty for a
change from psql or a job).

The tracked models belong to other apps; they are tracked through proxy models here, so the
triggers and event tables live in this app's migrations and the other apps are untouched.
Secrets are never copied into history: a credential's encrypted secrets, a user's password
hash and an authenticator's key are left out. Columns that move on every use (a quota's
``used``, an authenticator's counters) are not tracked, so history rows come from configuration
changes only, never from a till call.

The event tables are append-only (pghistory's protection triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import pghistory
from django.contrib.auth.models import Group, User
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.models import Credential, Merchant
from points.models import Agreement, Campaign, ConversionRate, Program
from rights.models import QuotaCounter, Right


def row_events():  # new trackers per model: pghistory fills a tracker's fields in
    return pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent()


def link_events():
    return pghistory.InsertEvent("add"), pghistory.DeleteEvent("remove")


def _track(*, verbose_name: str, events=row_events, **kwargs):
    # no permissions of their own: the history is read on the tracked object's admin page
    return pghistory.track(*events(), append_only=True, meta={"verbose_name": verbose_name,
                                                            "verbose_name_plural": verbose_name,
                                                            "default_permissions": ()}, **kwargs)


@_track(verbose_name="积分计划变更记录", model_name="ProgramEvent")
class ProgramProxy(Program):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="受理协议变更记录", model_name="AgreementEvent")
class AgreementProxy(Agreement):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="积分活动变更记录", model_name="CampaignEvent")
class CampaignProxy(Campaign):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="积分转换比例变更记录", model_name="ConversionRateEvent")
class ConversionRateProxy(ConversionRate):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="权益配置变更记录", model_name="RightEvent", exclude=["updated_at"])
class RightProxy(Right):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="权益提供方变更记录", model_name="RightProviderEvent", events=link_events, obj_field=None)
class RightProviderProxy(Right.providers.through):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="权益适用门店变更记录", model_name="RightStoreEvent", events=link_events, obj_field=None)
class RightStoreProxy(Right.stores.through):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="权益额度变更记录", model_name="QuotaLimitEvent", fields=["right", "scope", "key", "limit_value"])
class QuotaCounterProxy(QuotaCounter):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="接入凭证变更记录", model_name="CredentialEvent", exclude=["secret", "previous_secret"])
class CredentialProxy(Credential):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="商户变更记录", model_name="MerchantEvent")
class MerchantProxy(Merchant):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="角色变更记录", model_name="GroupEvent")
class GroupProxy(Group):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="角色权限变更记录", model_name="GroupPermissionEvent", events=link_events, obj_field=None)
class GroupPermissionProxy(Group.permissions.through):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="用户变更记录", model_name="UserEvent",
        fields=["username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"])
class UserProxy(User):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="用户角色变更记录", model_name="UserGroupEvent", events=link_events, obj_field=None)
class UserGroupProxy(User.groups.through):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="用户权限变更记录", model_name="UserPermissionEvent", events=link_events, obj_field=None)
class UserPermissionProxy(User.user_permissions.through):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="手机验证器变更记录", model_name="TOTPDeviceEvent", fields=["user", "name", "confirmed"])
class TOTPDeviceProxy(TOTPDevice):
    class Meta:
        proxy = True
        default_permissions = ()


@_track(verbose_name="备用验证码设备变更记录", model_name="StaticDeviceEvent", fields=["user", "name", "confirmed"])
class StaticDeviceProxy(StaticDevice):
    class Meta:
        proxy = True
        default_permissions = ()
