"""The ops site's roles: which permissions each staff group has, declared in one place.

``ROLES`` maps a group name to permission patterns ``app_label.codename``; a pattern may use
shell wildcards (``hub.view_*``). ``sync_roles`` makes each group hold exactly the permissions
its patterns match *now*. Patterns that match nothing yet (an app whose models arrive in a later
migration) are simply skipped, so every app's data migration can call ``sync_roles(apps)`` again
once its own permissions exist; it also runs after every ``migrate`` (see ``members.apps``).

Revealing a member's full mobile or ID number (``members.reveal_pii``) belongs to no role: it
is granted to named people one by one, and every use is audited.
"""

from __future__ import annotations

import fnmatch
import logging

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger("members.roles")

OPERATIONS, FINANCE, AUDIT = "运营", "财务", "审计"

# Never granted through a role, whatever a pattern says.
PERSONAL_ONLY = frozenset({"members.reveal_pii"})

_MANAGE = ("add", "change", "view")

ROLES: dict[str, tuple[str, ...]] = {
    # Day-to-day operations: the merchant network, members (masked), links and consents.
    OPERATIONS: (
        "hub.view_vendor",
        *(f"hub.{action}_{model}" for model in ("merchant", "store", "terminal", "credential") for action in _MANAGE),
        "members.view_tier",
        *(f"members.{action}_{model}" for model in ("member", "vendormemberlink", "consent") for action in _MANAGE),
        # programs and agreements; the ledger itself is read-only for everyone
        *(f"points.{action}_{model}" for model in ("program", "agreement", "campaign", "conversionrate")
          for action in _MANAGE),
        "points.view_operation",
        # day-end reconciliation: upload till files, resolve differences
        "clearing.view_reconciliationrun", "clearing.add_reconciliationrun", "clearing.view_reconciliationrow",
        "clearing.view_reconciliationdifference", "clearing.resolve_reconciliationdifference",
        "hub.view_tillcall",
        # start the ledger invariant check (账务检查), a job that writes its run: not a read-only role's
        "*.add_ledgercheckrun",
        # dashboards (看板) and the merchant portal's users
        "ops.view_dailystat", "ops.view_dailyscopestat",
        *(f"ops.{action}_merchantstaff" for action in _MANAGE),
    ),
    # Finance: sees everything in the network, members, the ledger and clearing.
    FINANCE: (
        "clearing.view_*",
        "hub.view_*",
        "members.view_*",
        "points.view_*",
        "ops.view_*",
    ),
    # Audit: read-only on everything, including who revealed which member's data.
    AUDIT: (
        "admin.view_*",
        "auth.view_*",
        "clearing.view_*",
        "django_celery_beat.view_*",
        "hub.view_*",
        "members.view_*",
        "points.view_*",
        "rights.view_*",
        "ops.view_*",
    ),
}


def ensure_permissions(apps=global_apps, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the content types and permissions of every model in ``apps``.

    Django creates permissions after ``migrate`` (post_migrate); a data migration that assigns
    them has to create them itself. Historical app configs have no models module, which
    ``create_permissions`` uses as its "has models" flag, so it is set for the call.
    """
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        if not original:
            app_config.models_module = True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            if not original:
                app_config.models_module = original


def resolve(patterns: tuple[str, ...] | list[str], available: set[str]) -> set[str]:
    """The available ``app_label.codename`` permissions matched by ``patterns``."""
    matched: set[str] = set()
    for pattern in patterns:
        matched.update(fnmatch.filter(available, pattern))
    return matched - PERSONAL_ONLY


def sync_roles(apps=None, *, using: str = DEFAULT_DB_ALIAS, roles: dict | None = None) -> dict[str, list[str]]:
    """Create or update the role groups; returns each group's permissions. Safe to run again.

    ``apps`` is a migration's historical registry (``RunPython(lambda apps, se: sync_roles(apps))``)
    or ``None`` for the live one.
    """
    apps = apps or global_apps
    roles = ROLES if roles is None else roles
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:  # auth not migrated yet on this path
        return {}
    ensure_permissions(apps, using=using)
    by_key = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    result: dict[str, list[str]] = {}
    for group_name, patterns in roles.items():
        keys = sorted(resolve(patterns, set(by_key)))
        group, _ = Group.objects.using(using).get_or_create(name=group_name)
        group.permissions.set([by_key[key] for key in keys])
        result[group_name] = keys
        missing = [p for p in patterns if "*" not in p and p not in by_key]
        if missing:
            logger.info("role %s: permissions not there yet: %s", group_name, ", ".join(missing))
    return result
