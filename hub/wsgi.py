"""The WSGI application (gunicorn: ``hub.wsgi``), with the loaded code kept out of the way of
Python's garbage collector.

Once Django is set up and every view's module imported, the ~130,000 objects of the loaded
code (modules, classes, functions, URL patterns, settings) live as long as the worker, yet each
full pass of the cyclic collector walked all of them. Under bench/till_http.py (gunicorn's gc
callbacks, 2026-12-04) every worker made 1–3 such passes in a 30 s run, each 135–307 ms during
which the calls queued on that worker waited. ``gc.freeze`` moves them to the permanent
generation after a last collection, so later passes see only what requests create (no full
pass in the same runs). The young generations' thresholds stay the default: raising them to
10,000 or 50,000 measured worse (fewer but far longer passes, more time in all).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
application = get_wsgi_application()


def settle() -> None:
    """Import every view's modules now (not on the first request), collect once, and freeze what
    is left: the long-lived objects of the loaded code."""
    from django.urls import get_resolver

    import hub.gateway.service  # noqa: F401 - every till call's (its views import it on first use)

    get_resolver().url_patterns  # noqa: B018 - loading the URLconf imports the views
    gc.collect()
    gc.freeze()


settle()
