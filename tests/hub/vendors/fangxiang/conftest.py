import pytest

from tests.hub.vendors.fangxiang.helpers import HUB_PRIVATE


@pytest.fixture(autouse=True)
def _hub_key(settings):
    """Tests run with DEBUG off, where the hub never invents its key: configure the test one."""
    settings.FANGXIANG_HUB_PRIVATE_KEY = HUB_PRIVATE
