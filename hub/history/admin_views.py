"""Each tracked object's admin page shows its trigger-kept history: the admin's 历史 (history)
button opens a page with the database's record of every change (who, when, from which page,
before → after), below Django's own log of admin actions."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model

MAX_EVENTS = 200
LABELS = {"baseline": "启用历史记录时的状态", "insert": "新建", "update": "修改", "delete": "删除", "add": "添加", "remove": "移除"}

# tracked model -> the event models that describe it, with the column naming the object
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "points.Program": (("history.ProgramEvent", "pgh_obj_id"),),
    "points.Agreement": (("history.AgreementEvent", "pgh_obj_id"), ("history.CampaignEvent", "agreement_id")),
    "points.Campaign": (("history.CampaignEvent", "pgh_obj_id"),),
    "points.ConversionRate": (("history.ConversionRateEvent", "pgh_obj_id"),),
    "rights.Right": (("history.RightEvent", "pgh_obj_id"), ("history.QuotaLimitEvent", "right_id"),
                     ("history.RightProviderEvent", "right_id"), ("history.RightStoreEvent", "right_id")),
    "hub.Credential": (("history.CredentialEvent", "pgh_obj_id"),),
    "hub.Merchant": (("history.MerchantEvent", "pgh_obj_id"),),
    "auth.Group": (("history.GroupEvent", "pgh_obj_id"), ("history.GroupPermissionEvent", "group_id")),
    "auth.User": (("history.UserEvent", "pgh_obj_id"), ("history.UserGroupEvent", "user_id"),
                  ("history.UserPermissionEvent", "user_id"), ("history.TOTPDeviceEvent", "user_id"),
                  ("history.StaticDeviceEvent", "user_id")),
}
_BOOKKEEPING = {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "pgh_context_id", "pgh_obj_id"}


def _fields(event_model):
    return [f for f in event_model._meta.concrete_fields if f.name not in _BOOKKEEPING and f.attname not in _BOOKKEEPING]


def _value(field, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _linked(field, value) -> str:
    """A link table's row names the other side (a permission, a group, a merchant)."""
    related = getattr(field, "related_model", None)
    if related is None or value is None:
        return _value(field, value)
    obj = related._default_manager.filter(pk=value).first()
    return f"{obj}（{value}）" if obj is not None else f"#{value}（已删除）"


def events_for(obj) -> list[dict]:
    """The history rows of ``obj``, newest first: when, what, who, URL and the changed fields."""
    sources = SOURCES.get(obj._meta.label, ())
    users = {}
    rows = []
    for label, column in sources:
        event_model = apps.get_model(label)
        fields = _fields(event_model)
        link = column != "pgh_obj_id" and not hasattr(event_model, "pgh_obj")
        events = list(event_model.objects.filter(**{column: obj.pk}).select_related("pgh_context")
                      .order_by("pgh_id")[:MAX_EVENTS * 2])
        previous: dict = {}
        for event in events:
            key = getattr(event, "pgh_obj_id", None)
            values = {f.attname: getattr(event, f.attname) for f in fields}
            before = previous.get(key)
            if link:
                other = [f for f in fields if f.attname != column]
                changes = [(f.verbose_name, "", _linked(f, values[f.attname])) for f in other]
            else:
                changes = [(f.verbose_name, "—" if before is None else _value(f, before[f.attname]),
                            _value(f, values[f.attname]))
                           for f in fields if before is None or before[f.attname] != values[f.attname]]
                if event.pgh_label == "delete":
                    changes = []
            previous[key] = values
            context = event.pgh_context.metadata if event.pgh_context_id else {}
            rows.append({"at": event.pgh_created_at, "what": event_model._meta.verbose_name,
                         "label": LABELS.get(event.pgh_label, event.pgh_label), "user_id": context.get("user"),
                         "url": context.get("url", ""), "changes": changes, "order": (event.pgh_created_at, event.pgh_id)})
    wanted = {row["user_id"] for row in rows if row["user_id"]}
    if wanted:
        users = {u.pk: u.get_username() for u in get_user_model()._default_manager.filter(pk__in=wanted)}
    for row in rows:
        row["user"] = users.get(row["user_id"], f"#{row['user_id']}") if row["user_id"] else "（无登录用户：数据库直接修改、任务或命令）"
    rows.sort(key=lambda row: row["order"], reverse=True)
    return rows[:MAX_EVENTS]


class HistoryAdminMixin:
    object_history_template = "history/object_history.html"

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        extra = {"config_history": events_for(obj) if obj is not None else []}
        return super().history_view(request, object_id, extra_context={**extra, **(extra_context or {})})


def attach(site=admin.site) -> None:
    """Give the registered admin of each tracked model the history page (run after admin
    autodiscovery: hub.history's AppConfig.ready)."""
    for label in SOURCES:
        model = apps.get_model(label)
        model_admin = site._registry.get(model)  # noqa: SLF001 - the site's own registry
        if model_admin is None or isinstance(model_admin, HistoryAdminMixin):
            continue
        cls = model_admin.__class__
        model_admin.__class__ = type(cls.__name__, (HistoryAdminMixin, cls), {"__module__": cls.__module__})
