"""The rights role groups (maker and checker), kept apart from members.roles' groups so that
syncing them never touches another group. Run after every migrate (rights.apps)."""

from __future__ import annotations

MAKER, CHECKER = "权益运营", "权益审核"

RIGHTS_ROLES: dict[str, tuple[str, ...]] = {
    # makes rights and runs them: create, edit drafts, submit, pause/resume/end, quotas, vouchers
    MAKER: (
        "rights.view_*", "rights.add_right", "rights.change_right", "rights.submit_right", "rights.operate_right",
        "rights.change_quota", "rights.deactivate_voucher",
        "rights.add_gate", "rights.change_gate", "rights.resolve_gateexception",  # scenic-spot gates
        "hub.view_merchant", "hub.view_store", "members.view_tier", "members.view_member",
    ),
    # approves or rejects what a maker submitted (never their own: the service and a CHECK refuse it)
    CHECKER: (
        "rights.view_*", "rights.approve_right", "rights.operate_right",
        "hub.view_merchant", "hub.view_store", "members.view_tier",
    ),
}


def sync_rights_roles(apps=None, *, using: str = "default") -> dict:
    from members.roles import sync_roles

    return sync_roles(apps, using=using, roles=RIGHTS_ROLES)
