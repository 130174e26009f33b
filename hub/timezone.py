"""The hub's one business time zone: business times, dates and cut-offs are Asia/Shanghai.

Import ``SHANGHAI`` from here rather than building another ``ZoneInfo``/``timezone(timedelta(hours=8))``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
