"""The dashboards' daily aggregates: the job that keeps them and the check that they agree.

``refresh_day(day=…)`` rewrites one business day (Asia/Shanghai) whole, in one transaction under
an advisory lock of that day: delete its ``DailyStat`` and ``DailyScopeStat`` rows, then one
``INSERT … SELECT`` from the sources. Running it again gives the same rows, so it is safe to
re-run for any day and safe against a concurrent run of the same day.

``refresh_dirty()`` (Celery ``ops.refresh_dashboard``, every 15 minutes in django-celery-beat) is
the incremental job: it refreshes the days a late posting may still land on (today and the
store-and-forward window) plus every older day that a source row written since its last run
touches (ledger transactions of an old operation — a reversal, refund or confirm —, write-offs,
rights funding, reconciliation runs and resolutions, closed clearing batches), found by id
(primary keys, with an overlap for transactions still in flight at the last run) or by
timestamp for in-place updates. Nothing scans the ledger per page view.

``check_aggregates()`` recomputes the checked days from the sources and reports every row that
differs from what is stored (run nightly with the ledger checks, ``hub.clearing.jobs``); days a
source row written after the job's last run touches are left to the next run.

What each figure counts (docs/operations.md, "Dashboards"):

- operations by their business day: earns (status success), redemptions (redeem success or a
  confirmed freeze), refunds, reversals (an operation reversed) and tombstones (a reverse that
  arrived before, or instead of, its original: the till did not know the outcome);
- expired points: the breakage postings of the expiry sweep, on the issuer's row;
- till calls by the hub's receive time: all, failed (any code but SUCCESS), unknown outcome
  (SYSTEM_ERROR, or never answered), total milliseconds of the timed ones;
- new members (province row) by registration time, new member links by link time;
- vouchers claimed (by claim time, on the right's funder), vouchers used (write-offs of the day,
  at the store), rights funding (by posting time, on the providing merchant and store);
- clearing net positions of the batches of that clearing date (in = received, out = paid);
- reconciliation differences of that business day, and those of them still open.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hub.ops.models import MEASURE_NAMES, AggregateState, MonthlyStat
from hub.timezone import SHANGHAI
from points.contract import AccountKind

logger = logging.getLogger("hub.ops.aggregates")

STATE = "daily"
ID_OVERLAP = 1000  # ids below the last mark scanned again: rows committed after a later id was seen
TIME_OVERLAP = timedelta(minutes=15)
COLUMNS = (*MEASURE_NAMES, "members_active")

_OPS = "hub_merchant m JOIN points_operation o ON o.merchant_id = m.id AND o.business_date = %(day)s"
_EARN = "o.kind = 'earn' AND o.status = 'success'"
_REDEEM = "(o.kind = 'redeem' AND o.status = 'success') OR (o.kind = 'freeze' AND o.status = 'confirmed')"
_ACTIVE = f"({_EARN}) OR {_REDEEM} OR (o.kind = 'refund' AND o.status = 'success')"
_SCENE = "CASE WHEN m.kind = 'issuer' THEN '' ELSE m.scene END"

# (merchant expr, store expr, FROM … [WHERE …], GROUP BY, {measure: aggregate}) per source.
SOURCES: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    ("o.merchant_id", "o.store_id", _OPS, "o.merchant_id, o.store_id", {
        "earn_count": f"count(*) FILTER (WHERE {_EARN})",
        "points_earned": f"coalesce(sum(o.points) FILTER (WHERE {_EARN}), 0)",
        "earn_fen": f"coalesce(sum(o.amount_fen) FILTER (WHERE {_EARN}), 0)",
        "redeem_count": f"count(*) FILTER (WHERE {_REDEEM})",
        "points_redeemed": f"coalesce(sum(o.points) FILTER (WHERE {_REDEEM}), 0)",
        "redeem_fen": f"coalesce(sum(o.amount_fen) FILTER (WHERE {_REDEEM}), 0)",
        "refund_count": "count(*) FILTER (WHERE o.kind = 'refund' AND o.status = 'success')",
        "reversal_count": "count(*) FILTER (WHERE o.status = 'reversed' AND o.kind <> 'tombstone')",
        "tombstone_count": "count(*) FILTER (WHERE o.kind = 'tombstone')",
    }),
    # distinct members: per store (store rows) and per merchant across its stores (NULL-store row)
    ("o.merchant_id", "CASE WHEN grouping(o.store_id) = 1 THEN NULL ELSE o.store_id END",
     f"{_OPS} AND o.member_id IS NOT NULL AND ({_ACTIVE})",
     "GROUPING SETS ((o.merchant_id, o.store_id), (o.merchant_id)) "
     "HAVING grouping(o.store_id) = 1 OR o.store_id IS NOT NULL",
     {"members_active": "count(DISTINCT o.member_id)"}),
    ("a.party_id", "NULL::bigint",
     "points_account a JOIN points_posting p ON p.account_id = a.id "
     "JOIN points_txn t ON t.id = p.txn_id AND t.kind = 'expire' "
     f"WHERE a.kind = {int(AccountKind.BREAKAGE)} AND p.created_at >= %(start)s AND p.created_at < %(end)s",
     "a.party_id", {"points_expired": "sum(p.amount)"}),
    ("NULL::bigint", "NULL::bigint",
     "members_member mm WHERE mm.created_at >= %(start)s AND mm.created_at < %(end)s HAVING count(*) > 0", "",
     {"members_new": "count(*)"}),
    ("l.merchant_id", "NULL::bigint",
     "hub_merchant m JOIN members_vendormemberlink l ON l.merchant_id = m.id "
     "AND l.linked_at >= %(start)s AND l.linked_at < %(end)s", "l.merchant_id", {"links_new": "count(*)"}),
    ("r.funder_id", "NULL::bigint",
     "rights_voucher v JOIN rights_right r ON r.id = v.right_id "
     "WHERE v.claimed_at >= %(start)s AND v.claimed_at < %(end)s", "r.funder_id", {"vouchers_claimed": "count(*)"}),
    ("d.merchant_id", "d.store_id",
     "rights_redemption d WHERE d.business_date = %(day)s AND d.kind = 'use' AND d.status = 'success'",
     "d.merchant_id, d.store_id", {"vouchers_used": "count(*)"}),
    ("f.provider_id", "d.store_id",
     "rights_rightsfunding f JOIN rights_redemption d ON d.id = f.redemption_id "
     "WHERE f.created_at >= %(start)s AND f.created_at < %(end)s", "f.provider_id, d.store_id",
     {"rights_funding_fen": "sum(f.amount_fen)"}),
    ("p.party_id", "NULL::bigint",
     "hub_clearing_batch b JOIN hub_clearing_position p ON p.batch_id = b.id WHERE b.clearing_date = %(day)s",
     "p.party_id", {
         "clearing_net_fen": "sum(p.net_fen)",
         "clearing_in_fen": "sum(greatest(p.net_fen, 0))",
         "clearing_out_fen": "sum(greatest(-p.net_fen, 0))",
     }),
    ("c.merchant_id", "NULL::bigint",
     "hub_tillcall c WHERE c.received_at >= %(start)s AND c.received_at < %(end)s AND c.merchant_id IS NOT NULL",
     "c.merchant_id", {
         "till_calls": "count(*)",
         "till_errors": "count(*) FILTER (WHERE c.code <> 'SUCCESS')",
         "till_unknown": "count(*) FILTER (WHERE c.code IN ('SYSTEM_ERROR', ''))",
         "till_ms_sum": "coalesce(sum(c.duration_ms), 0)",
         "till_timed": "count(c.duration_ms)",
     }),
    ("x.merchant_id", "NULL::bigint", "hub_recon_difference x WHERE x.biz_date = %(day)s", "x.merchant_id", {
        "recon_differences": "count(*)",
        "recon_open": "count(*) FILTER (WHERE x.resolved_at IS NULL)",
    }),
)


def _source_sql(merchant: str, store: str, from_: str, group: str, measures: dict[str, str]) -> str:
    unknown = set(measures) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown measures {sorted(unknown)}")
    cols = ", ".join(f"{measures.get(name, '0')}::bigint AS {name}" for name in COLUMNS)
    group_by = f" GROUP BY {group}" if group else ""
    return f"SELECT {merchant} AS merchant_id, {store} AS store_id, {cols} FROM {from_}{group_by}"


def stat_select() -> str:
    """One day's ``DailyStat`` rows computed from the sources: (business_date, merchant_id,
    store_id, scene, *COLUMNS), every all-zero row left out."""
    union = "\nUNION ALL\n".join(_source_sql(*source) for source in SOURCES)
    sums = ", ".join(f"sum(s.{name})::bigint AS {name}" for name in COLUMNS)
    nonzero = " OR ".join(f"sum(s.{name}) <> 0" for name in COLUMNS)
    return f"""SELECT %(day)s::date AS business_date, s.merchant_id, s.store_id,
                      coalesce(max(CASE WHEN mm.kind = 'issuer' THEN '' ELSE mm.scene END), '') AS scene, {sums}
                 FROM ({union}) s LEFT JOIN hub_merchant mm ON mm.id = s.merchant_id
                GROUP BY s.merchant_id, s.store_id HAVING {nonzero}"""


def scope_select(stats: str) -> str:
    """One day's ``DailyScopeStat`` rows (business_date, scene, *COLUMNS) from the day's stat
    rows in ``stats`` (a table or a CTE) and the day's distinct members per scene and in all."""
    sums = ", ".join(f"sum({name})::bigint AS {name}" for name in MEASURE_NAMES)
    return f"""SELECT %(day)s::date AS business_date, t.scene, {", ".join(f"t.{n}" for n in MEASURE_NAMES)},
                      coalesce(a.n, 0)::bigint AS members_active
                 FROM (SELECT CASE WHEN grouping(scene) = 1 THEN '' ELSE scene END AS scene, {sums}
                         FROM {stats} WHERE business_date = %(day)s
                        GROUP BY GROUPING SETS ((scene), ())
                       HAVING (grouping(scene) = 1 AND count(*) > 0) OR scene <> '') t
                 LEFT JOIN (SELECT CASE WHEN grouping({_SCENE}) = 1 THEN '' ELSE {_SCENE} END AS scene,
                                   count(DISTINCT o.member_id) AS n
                              FROM {_OPS} AND o.member_id IS NOT NULL AND ({_ACTIVE})
                             GROUP BY GROUPING SETS (({_SCENE}), ())
                            HAVING grouping({_SCENE}) = 1 OR {_SCENE} <> '') a ON a.scene = t.scene"""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def _params(day: date) -> dict:
    start, end = day_bounds(day)
    return {"day": day, "start": start, "end": end}


def refresh_day(*, day: date) -> int:
    """Rewrite one business day's aggregates from the sources; returns the stat rows written."""
    cols = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ops.daily'), %s)", [day.toordinal()])
        cursor.execute("DELETE FROM ops_daily_stat WHERE business_date = %s", [day])
        cursor.execute("DELETE FROM ops_daily_scope_stat WHERE business_date = %s", [day])
        cursor.execute(f"INSERT INTO ops_daily_stat (business_date, merchant_id, store_id, scene, {cols}) "
                       f"{stat_select()}", _params(day))
        written = cursor.rowcount
        cursor.execute(f"INSERT INTO ops_daily_scope_stat (business_date, scene, {cols}) "
                       f"{scope_select('ops_daily_stat')}", _params(day))
        month = day.replace(day=1)
        cursor.execute("DELETE FROM ops_monthly_stat WHERE month = %s", [month])
        cursor.execute(f"INSERT INTO ops_monthly_stat (month, merchant_id, store_id, scene, {MONTHLY}) "
                       f"{month_select('ops_daily_stat')}", {"month": month, "next": _next_month(month)})
    return written


MONTHLY = ", ".join(MonthlyStat.RANKED)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_select(stats: str) -> str:
    """A month's ``MonthlyStat`` rows from the daily rows in ``stats`` (%(month)s … %(next)s)."""
    sums = ", ".join(f"sum({name})::bigint" for name in MonthlyStat.RANKED)
    return f"""SELECT %(month)s::date, merchant_id, store_id, max(scene), {sums} FROM {stats}
                WHERE business_date >= %(month)s AND business_date < %(next)s
                GROUP BY merchant_id, store_id"""


# ---- which days changed --------------------------------------------------------------------------

_LOCAL = "(({col}) AT TIME ZONE 'Asia/Shanghai')::date"

# mark name -> (table, SQL of the business days touched by rows with id > %(since)s)
ID_SCANS: dict[str, tuple[str, str]] = {
    "operation": ("points_operation", "SELECT DISTINCT business_date FROM points_operation WHERE id > %(since)s"),
    "txn": ("points_txn", f"""SELECT DISTINCT coalesce(o.business_date, {_LOCAL.format(col='t.created_at')})
                               FROM points_txn t LEFT JOIN points_operation o ON o.id = t.operation_id
                              WHERE t.id > %(since)s"""),
    "redemption": ("rights_redemption", "SELECT DISTINCT business_date FROM rights_redemption WHERE id > %(since)s"),
    "funding": ("rights_rightsfunding",
                f"SELECT DISTINCT {_LOCAL.format(col='created_at')} FROM rights_rightsfunding WHERE id > %(since)s"),
    "voucher": ("rights_voucher",
                f"SELECT DISTINCT {_LOCAL.format(col='claimed_at')} FROM rights_voucher WHERE id > %(since)s"),
    "member": ("members_member",
               f"SELECT DISTINCT {_LOCAL.format(col='created_at')} FROM members_member WHERE id > %(since)s"),
    "link": ("members_vendormemberlink",
             f"SELECT DISTINCT {_LOCAL.format(col='linked_at')} FROM members_vendormemberlink WHERE id > %(since)s"),
    "tillcall": ("hub_tillcall",
                 f"SELECT DISTINCT {_LOCAL.format(col='received_at')} FROM hub_tillcall WHERE id > %(since)s"),
    "recon": ("hub_recon_run", "SELECT DISTINCT biz_date FROM hub_recon_run WHERE id > %(since)s"),
}
# in-place updates found by their timestamp: rows changed after %(after)s
TIME_SCANS = (
    "SELECT DISTINCT biz_date FROM hub_recon_difference WHERE resolved_at > %(after)s",
    "SELECT DISTINCT clearing_date FROM hub_clearing_batch WHERE closed_at > %(after)s",
)


def _current_marks(cursor) -> dict[str, int]:
    marks = {}
    for name, (table, _) in ID_SCANS.items():
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        marks[name] = cursor.fetchone()[0]
    return marks


def touched_days(cursor, marks: dict[str, int], after: datetime | None, *, overlap: int = 0) -> set[date]:
    """Business days touched by source rows past ``marks`` (less ``overlap`` ids) or changed in
    place after ``after``."""
    days: set[date] = set()
    for name, (_, sql) in ID_SCANS.items():
        cursor.execute(sql, {"since": max(0, marks.get(name, 0) - overlap)})
        days.update(day for (day,) in cursor.fetchall() if day is not None)
    if after is not None:
        for sql in TIME_SCANS:
            cursor.execute(sql, {"after": after})
            days.update(day for (day,) in cursor.fetchall() if day is not None)
    return days


def window_days(today: date) -> list[date]:
    """Today and the days a till may still post to (settings.STORE_AND_FORWARD_DAYS) or reverse."""
    back = max(settings.STORE_AND_FORWARD_DAYS, 1) + 1
    return [today - timedelta(days=n) for n in range(back, -1, -1)]


def refresh_dirty(*, now: datetime | None = None) -> list[date]:
    """The incremental job: refresh the window and every day touched since the last run, then
    move the marks. Returns the days refreshed."""
    now = now or timezone.now()
    today = now.astimezone(SHANGHAI).date()
    state, _ = AggregateState.objects.get_or_create(name=STATE)
    first_run = state.ran_at is None
    with connection.cursor() as cursor:
        marks = _current_marks(cursor)  # before the scan: rows after it are the next run's
        if first_run:  # everything: every day any source has
            days = touched_days(cursor, {}, datetime(1970, 1, 1, tzinfo=SHANGHAI))
        else:
            days = touched_days(cursor, state.marks, state.ran_at - TIME_OVERLAP, overlap=ID_OVERLAP)
    days.update(window_days(today))
    refreshed = sorted(day for day in days if day <= today)
    for day in refreshed:
        refresh_day(day=day)
    AggregateState.objects.filter(name=STATE).update(marks=marks, ran_at=now)
    logger.info("dashboard aggregates: refreshed %d days (%s … %s)", len(refreshed),
                refreshed[0] if refreshed else "-", refreshed[-1] if refreshed else "-")
    return refreshed


# ---- the agreement check -------------------------------------------------------------------------

def _diff_sql() -> str:
    cols = ", ".join(COLUMNS)
    stat = f"business_date, merchant_id, store_id, scene, {cols}"
    scope = f"business_date, scene, {cols}"
    return f"""WITH fresh AS ({stat_select()}),
                    stored AS (SELECT {stat} FROM ops_daily_stat WHERE business_date = %(day)s),
                    fresh_scope AS ({scope_select('fresh')}),
                    stored_scope AS (SELECT {scope} FROM ops_daily_scope_stat WHERE business_date = %(day)s)
               (SELECT 'stat_stored' AS side, merchant_id, store_id, scene, {cols} FROM stored
                EXCEPT SELECT 'stat_stored', merchant_id, store_id, scene, {cols} FROM fresh)
               UNION ALL
               (SELECT 'stat_ledger', merchant_id, store_id, scene, {cols} FROM fresh
                EXCEPT SELECT 'stat_ledger', merchant_id, store_id, scene, {cols} FROM stored)
               UNION ALL
               (SELECT 'scope_stored', NULL::bigint, NULL::bigint, scene, {cols} FROM stored_scope
                EXCEPT SELECT 'scope_stored', NULL::bigint, NULL::bigint, scene, {cols} FROM fresh_scope)
               UNION ALL
               (SELECT 'scope_ledger', NULL::bigint, NULL::bigint, scene, {cols} FROM fresh_scope
                EXCEPT SELECT 'scope_ledger', NULL::bigint, NULL::bigint, scene, {cols} FROM stored_scope)
               LIMIT 20"""


def check_aggregates(*, days: list[date] | None = None) -> dict[str, list[tuple]]:
    """Recompute days from the sources and compare with the stored aggregates.

    Returns ``{"dashboard_aggregates_match_ledger": [(day, side, merchant, store, scene, figures…), …]}``
    when any row differs (``side`` says which copy the row is from: ``stat_stored`` is a stored
    row the sources do not give, ``stat_ledger`` a row the sources give that is not stored), or
    ``{}``. By default the days checked are the last settings.OPS_AGGREGATE_CHECK_DAYS up to the
    job's last run, less those touched by rows written since (the next run's work). Before the
    job has ever run there is nothing to check.
    """
    state = AggregateState.objects.filter(name=STATE).first()
    with connection.cursor() as cursor:
        if days is None:
            if state is None or state.ran_at is None:
                return {}
            last = state.ran_at.astimezone(SHANGHAI).date()
            span = getattr(settings, "OPS_AGGREGATE_CHECK_DAYS", 62)
            pending = touched_days(cursor, state.marks, state.ran_at)
            days = [last - timedelta(days=n) for n in range(span, -1, -1)]
            days = [day for day in days if day not in pending]
        offending: list[tuple] = []
        sql = _diff_sql()
        for day in days:
            cursor.execute(sql, _params(day))
            offending.extend((day, *row) for row in cursor.fetchall())
            if len(offending) >= 20:
                break
        # the monthly ranking rows are the sums of their month's daily rows
        monthly = f"SELECT month, merchant_id, store_id, scene, {MONTHLY} FROM ops_monthly_stat WHERE month = %(month)s"
        sums = f"SELECT * FROM ({month_select('ops_daily_stat')}) x"
        for month in sorted({day.replace(day=1) for day in days}):
            params = {"month": month, "next": _next_month(month)}
            cursor.execute(f"({monthly} EXCEPT {sums}) UNION ALL ({sums} EXCEPT {monthly}) LIMIT 20", params)
            offending.extend((month, "monthly", *row[1:]) for row in cursor.fetchall())
    return {"dashboard_aggregates_match_ledger": offending[:20]} if offending else {}
