"""hub.wsgi, as gunicorn loads it: the loaded code is frozen out of the garbage collector's
passes (see the module's docstring for the pauses this removes), and the application still
answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

LOAD = """
import gc, io, json, sys
import hub.wsgi
frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
answer = []
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/gateway/fangxiang/public-key", "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "80", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1"}
body = b"".join(hub.wsgi.application(environ, lambda status, headers: answer.append(status)))
views = all(name in sys.modules for name in ("hub.ops.views", "hub.vendors.cloudpos.views", "hub.gateway.service"))
print(json.dumps({"frozen": frozen, "tracked": tracked, "views": views,
                  "status": answer[0], "pem": b"PUBLIC KEY" in body}))
"""


def test_the_loaded_application_is_frozen_and_still_answers():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(PYTHONPATH=str(BASE_DIR), DEBUG="1", ALLOWED_HOSTS="127.0.0.1")
    result = subprocess.run([sys.executable, "-c", LOAD], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["views"], "the views (URLconf) and the gateway service are loaded before the freeze"
    assert seen["frozen"] > 50_000, seen  # the loaded code: ~130,000 objects
    assert seen["tracked"] < seen["frozen"] // 10, seen  # left for the collector: what came after
    assert seen["status"].startswith("200"), seen
    assert seen["pem"], seen
