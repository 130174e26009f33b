"""Schemathesis over the served OpenAPI of /api/mp/v1/ (fetched from the hub's own schema
endpoint through WSGI): generated requests to every operation, signed in as a bound demo member,
never get a 5xx and every answer matches the schema (status, content type, body). Bounded:
``EXAMPLES`` per operation, so the whole module runs in well under two minutes."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.members.miniprogram.conftest import Api

EXAMPLES = 10
schema = schemathesis.openapi.from_wsgi("/api/mp/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def bound_token(sandbox):
    """A bound demo member's token. Requests go straight to the WSGI app, so, as Django's test
    client does, the test's database connection (inside the test transaction) is not closed at
    the end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from django.test import Client

    token = Api(Client()).member("fuzz", "13800000005").token  # (the test client reconnects them after)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield token
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_the_mp_api_keeps_its_schema(case, bound_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {bound_token}"},
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])


def test_the_schema_is_served_offline_with_every_endpoint_and_examples(client):
    document = client.get("/api/mp/v1/schema/", {"format": "json"}).json()
    assert document["openapi"].startswith("3.")
    paths = {(p.removeprefix("/api/mp/v1/"), m.upper()) for p, item in document["paths"].items() for m in item}
    assert paths == {
        ("auth/wechat/login", "POST"), ("auth/phone", "POST"), ("auth/logout", "POST"), ("auth/logout-all", "POST"),
        ("consent", "GET"), ("me", "GET"), ("me/consents", "GET"), ("me/consents", "POST"),
        ("me/memberships", "GET"), ("me/memberships", "POST"), ("me/memberships/{id}", "DELETE"),
        ("me/balances", "GET"), ("me/transactions", "GET"), ("me/member-code", "POST"),
        ("me/member-code/{code_id}", "GET"), ("rights", "GET"), ("rights/{id}", "GET"), ("rights/{id}/claim", "POST"),
        ("me/vouchers", "GET"), ("me/vouchers/{id}/display", "POST"), ("me/conversions/quote", "POST"),
        ("me/conversions", "POST"), ("me/export", "GET"), ("me/close", "POST")}
    for item in document["paths"].values():
        for operation in item.values():
            assert {"200", "401", "404", "429", "500"} <= set(operation["responses"])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body.get("schema", {}).get("required"):
                assert body["examples"], operation["operationId"]
    docs = client.get("/api/mp/v1/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
    # the till API's schema does not list the mini-program
    till = client.get("/api/schema/", {"format": "json"}).json()
    assert not any(p.startswith("/api/mp/") for p in till["paths"])
