"""The OpenAPI document describes the error answers the API really gives (one ``ErrorBody``)."""

from __future__ import annotations

import re

import pytest

from emergency.assembly.app import create_app
from emergency.assembly.openapi import REF
from emergency.config import Settings


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(Settings()).openapi()


def operations(document: dict):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", op


def test_every_error_answer_is_the_one_error_body(document):
    assert "HTTPValidationError" not in document["components"]["schemas"]
    props = document["components"]["schemas"]["ErrorBody"]["properties"]
    assert props["detail"]["type"] == "string"
    for name, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) >= 400 and name != "GET /readyz" and " /open311/" not in name:
                assert response["content"]["application/json"]["schema"] == {"$ref": REF}, (name, status)


def test_open311_documents_the_specs_error_format_in_both_formats(document):
    found = [(name, op) for name, op in operations(document) if " /open311/v2/" in name]
    assert len(found) == 8
    for name, op in found:
        errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
        assert {"400", "503"} <= set(errors) and "422" not in errors, (name, sorted(errors))
        for status, response in errors.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema["items"] == {"$ref": "#/components/schemas/Error"}, (name, status)
            assert "text/xml" in response["content"]
    assert {"403", "429"} <= set(document["paths"]["/open311/v2/requests.{fmt}"]["post"]["responses"])


@pytest.mark.parametrize(("operation", "statuses"), [
    ("POST /api/v1/reports", {"400", "413", "422", "429", "503"}),
    ("GET /api/v1/reports", {"422", "429", "503"}),
    ("POST /api/v1/agency/road-closures", {"400", "401", "403", "413", "422", "429", "503"}),
    ("DELETE /api/v1/admin/tokens/{token_hash}", {"401", "403", "404", "422"}),
    ("GET /api/v1/events/{event_id}", {"404", "422"}),
    ("POST /api/v1/admin/journal/retry", {"401", "403", "404", "422"}),  # declared by the route
    ("GET /region/roads.geojson", {"404"}),
])
def test_statuses_each_operation_can_answer_are_documented(document, operation, statuses):
    method, path = operation.split(" ")
    documented = set(document["paths"][path][method.lower()]["responses"])
    assert statuses <= documented, statuses - documented


def test_readyz_documents_its_own_503_body(document):
    ready = document["paths"]["/readyz"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"] == ready["200"]["content"]["application/json"]["schema"]


def test_bbox_format_is_in_the_schema(document):
    for path in ("/api/v1/reports", "/api/v1/road-closures", "/api/v1/alerts"):
        bbox = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "bbox")
        pattern = bbox["schema"]["pattern"]
        assert re.match(pattern, "-122.7,45.49,-122.62,45.54") and not re.match(pattern, "1,2,3")
        assert "minlon,minlat,maxlon,maxlat" in bbox["description"]
