import pytest
from django.db import connection

# A sixth till dialect defined only in the test suite (tests/hub/gateway/toy.py): registered here
# and nowhere else, so every registry-driven part of the hub and of the suites must cope with it.
TOY_ADAPTER = "tests.hub.gateway.toy.ToyAdapter"


def pytest_configure(config):
    from django.conf import settings

    settings.HUB_TILL_ADAPTERS = {**settings.HUB_TILL_ADAPTERS, "toy": TOY_ADAPTER}


@pytest.fixture(scope="session", autouse=True)
def _log_audit(django_test_environment):
    """Every record of the run into the audited log (tests/logaudit.py), once Django has
    configured logging (its dictConfig would drop a handler attached earlier)."""
    from tests import logaudit

    logaudit.start()
    yield


@pytest.fixture(autouse=True)
def _log_audit_attached(_log_audit):
    from tests import logaudit

    logaudit.attach()


def pytest_sessionfinish(session, exitstatus):
    """A run whose logs carry a mobile, an ID number, a token or a secret fails (tests/logaudit.py)."""
    from tests import logaudit

    leaks = logaudit.problems()
    logaudit.stop()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"LOG AUDIT: {len(leaks)} log line(s) carry personal data or secrets:", *leaks[:50]]
        for line in lines:
            (reporter.write_line if reporter else print)(line)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database lets sessions TRUNCATE the clearing tables: the flush between
    transactional tests does (hub/clearing/sql/clearing.sql refuses TRUNCATE otherwise). Set on
    the database, so every connection a test opens has it; tests of the guard turn it off."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET hub.allow_truncate = 'on'")
        cursor.execute("SET hub.allow_truncate = 'on'")


@pytest.fixture(autouse=True)
def _force_login_verifies_second_factor(monkeypatch):
    """``client.force_login(user)`` skips the password; here it also passes the second factor,
    with a real confirmed TOTP device of that user (tests.otp.verify_session), so tests of
    admin pages sign in as before. The check itself stays on: a session that only gave a
    password (``client.login``, the login form) still gets no page (tests/hub/staff)."""
    from django.test import Client

    from tests.otp import verify_session

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        verify_session(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)
