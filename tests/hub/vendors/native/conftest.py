"""The gateway suite's sandbox hub, and batch routed as the proposed gateway change would route it."""

import pytest

from hub.gateway import canonical, service
from hub.gateway.dispatch import dispatch
from hub.vendors.native.adapter import NativeAdapter
from hub.vendors.native.batch import batch_supported, run_batch
from tests.hub.gateway.conftest import sandbox  # noqa: F401 - the fixture, shared


@pytest.fixture
def batch_routed(monkeypatch):
    """Until the gateway knows the "batch" command, dispatch routes it to run_batch and the body
    limit is the adapter's (the change proposed with the native API), do that here, as those lines
    would; afterwards, nothing."""
    if batch_supported():
        return
    monkeypatch.setattr(canonical, "OPS", (*canonical.OPS, "batch"))
    monkeypatch.setattr(service, "MAX_BODY_BYTES", NativeAdapter.max_body_bytes)

    def routed(credential, command, place):
        if command.op == "batch":
            return run_batch(credential, command, place)
        return dispatch(credential, command, place)

    monkeypatch.setattr(service, "dispatch", routed)
