"""The gateway suite's sandbox hub, shared with the native adapter's tests."""

from tests.hub.gateway.conftest import sandbox  # noqa: F401 - the fixture, shared
