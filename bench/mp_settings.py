"""Settings of bench/miniprogram.py's server: the hub's, plus a bare Django view (mp_urls) as the
reference, and rate limits out of the way of the load."""

from hub.settings import *  # noqa: F403

ROOT_URLCONF = "mp_urls"
MINIPROGRAM_RATE_LIMITS = {name: (10**9, 10**9) for name in ("login", "phone", "member_code", "display", "claim")}
