"""The OpenAPI page documents exactly the native API that runs: every endpoint, body, answer,
error code and example, and the examples themselves parse."""

import json

import pytest
from drf_spectacular.validation import validate_schema

from hub.api import examples, serializers
from hub.errors import CODES
from hub.gateway.canonical import RESULT_FIELDS
from hub.vendors.native import batch
from hub.vendors.native.adapter import NativeAdapter
from hub.vendors.native.endpoints import ENDPOINTS, PATH_OPS, TOTALS

from .helpers import request


@pytest.fixture(scope="module")
def document(django_client_module):
    response = django_client_module.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture(scope="module")
def django_client_module():
    from django.test import Client

    return Client()


def path_of(op: str) -> str:
    return "/api/v1/till/" + ENDPOINTS[op].route.replace("<str:request_no>", "{request_no}")


def test_the_document_is_valid_openapi(document):
    validate_schema(document)
    assert document["openapi"].startswith("3.")


def test_exactly_the_native_endpoints_are_listed(document):
    listed = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert listed == {(path_of(op), ep.method) for op, ep in ENDPOINTS.items()}


@pytest.mark.parametrize("op", list(ENDPOINTS))
def test_each_endpoint_is_fully_described(document, op):
    operation = document["paths"][path_of(op)][ENDPOINTS[op].method.lower()]
    assert operation["operationId"] == f"till_{op}"
    assert operation["summary"] and operation["description"]
    assert operation["security"] == [{"HubHmac": []}]
    statuses = {str(status) for status, _ in CODES.values()} | {"200"}
    assert set(operation["responses"]) == statuses
    ok = operation["responses"]["200"]
    assert set(ok["headers"]) == {"Hub-Timestamp", "Hub-Nonce", "Hub-Signature"}
    name = "".join(part.capitalize() for part in op.split("_")) + "Response"
    assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    assert ok["content"]["application/json"]["examples"]
    for status, error in operation["responses"].items():
        if status != "200":
            assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
            assert all(f"`{code}`" in error["description"] for code, (s, _) in CODES.items() if str(s) == status)
    if ENDPOINTS[op].method == "GET":
        assert "requestBody" not in operation
    else:
        body = operation["requestBody"]["content"]
        assert list(body) == ["application/json"] and body["application/json"]["examples"]
    parameters = {p["name"]: p for p in operation.get("parameters", [])}
    assert ("request_no" in parameters) == (op in PATH_OPS)


def test_the_description_carries_the_signing_rule_error_table_and_vector(document):
    text = document["info"]["description"]
    for needle in ('HUB-HMAC-SHA256 app_key="…",timestamp="<unix seconds>",nonce="…",signature="…"',
                   'METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + BODY + "\\n"',
                   "Hub-Signature", "300 seconds", "F5DoS/vXjKF0TERXmDFQvVDJpTD7S1ttAdLIS931pPY="):
        assert needle in text, needle
    for code, (status, message) in CODES.items():
        assert f"| `{code}` | {status} | {message} |" in text


def test_the_security_scheme_is_the_authorization_header(document):
    scheme = document["components"]["securitySchemes"]["HubHmac"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")


def test_error_and_result_codes_are_the_canonical_ones(document):
    schemas = document["components"]["schemas"]
    assert schemas["ErrorCodeEnum"]["enum"] == list(CODES)
    assert schemas["ResultCodeEnum"]["enum"] == ["SUCCESS", *CODES]


def test_the_swagger_page_renders(django_client_module):
    response = django_client_module.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content and b"/api/docs/?script=" in response.content
    script = django_client_module.get("/api/docs/?script=")  # the start-up script, a file of its own
    assert script.status_code == 200 and b"/api/schema/" in script.content


# ---- the serializers describe what the adapter actually takes and gives ----------------------

@pytest.mark.parametrize("op", [op for op, ep in ENDPOINTS.items() if ep.method == "POST"])
def test_documented_request_fields_are_the_accepted_ones(op):
    assert tuple(serializers.REQUEST[op]().fields) == ENDPOINTS[op].fields


def test_documented_nested_fields_are_the_accepted_ones():
    assert tuple(serializers.TotalsRequest().fields) == TOTALS
    assert tuple(serializers.BatchItemRequest().fields) == batch.ALL_ITEM_FIELDS


@pytest.mark.parametrize("op", list(serializers.DATA))
def test_documented_data_fields_are_the_rendered_ones(op):
    documented = tuple(serializers.DATA[op]().fields)
    assert documented == (RESULT_FIELDS[op] if op in RESULT_FIELDS else ("items",))
    assert tuple(examples.DATA[op]) == documented


@pytest.mark.parametrize("op", list(examples.REQUESTS))
def test_request_examples_parse(op):
    ep = ENDPOINTS[op]
    path = "/" + ep.path("HUB20261125000123")
    kwargs = {"request_no": "HUB20261125000123"} if op in PATH_OPS else {}
    parsed = NativeAdapter().parse(request(ep.method, path, examples.REQUESTS[op]), op=op, **kwargs)
    if op == "batch":
        assert all(item.error is None for item in parsed.command.extra["items"])
