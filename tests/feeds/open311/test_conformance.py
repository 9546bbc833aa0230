"""Conformance with the GeoReport v2 spec's own examples: every XML example is read by our reader into the
JSON example's content, our models accept every example and write it back (JSON and XML) unchanged, and
what they write validates against the spec's JSON schemas. No server here (tests/feeds/open311/test_api.py
checks the live answers)."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from alerts.cap.xml import CapError
from feeds.open311.formats import from_xml, to_json, to_xml
from feeds.open311.models import (
    Discovery,
    Error,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
    TokenAnswer,
)
from tests.feeds.open311.spec import as_text, example_json, example_xml, validate

# (example, root element, model of one item (None: the document is one object), schema of the document)
EXAMPLES = [
    ("get_service_list_example1", "services", Service, "services.json"),
    ("get_service_definition_example1", "service_definition", None, "service-definition.json"),
    ("get_service_requests_example1", "service_requests", ServiceRequest, "requests.json"),
    ("get_service_request_example1", "service_requests", ServiceRequest, "requests.json"),
    ("get_service_request_id_from_a_token_example1", "service_requests", TokenAnswer, None),
    ("post_service_request_example1", "service_requests", RequestCreated, None),
    ("discovery_example1", "discovery", None, None),
]
ONE_OBJECT = {"service_definition": ServiceDefinition, "discovery": Discovery}


def _model_form(root: str, item_model, value):
    """The example through our model and back to the JSON form (our extension fields left out)."""
    if item_model is None:
        return ONE_OBJECT[root].model_validate(value).model_dump()
    dumped = [item_model.model_validate(v).model_dump() for v in value]
    for d in dumped:
        d.pop("tracking_url", None)  # this server's extension of the POST answer
    return dumped


@pytest.mark.parametrize("name,root,model,schema", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_xml_example_reads_as_its_json_example(name, root, model, schema):
    got_root, value = from_xml(example_xml(f"{name}.xml"))
    assert got_root == root
    assert value == as_text(example_json(f"{name}.json"))


@pytest.mark.parametrize("name,root,model,schema", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_round_trips_through_our_models_in_both_formats(name, root, model, schema):
    _, from_spec_xml = from_xml(example_xml(f"{name}.xml"))
    ours = _model_form(root, model, from_spec_xml)
    # XML: our document holds exactly the spec example's elements and texts
    assert from_xml(to_xml(root, ours)) == (root, from_spec_xml)
    # JSON: the same content as the spec's JSON example
    assert as_text(json.loads(to_json(ours))) == as_text(example_json(f"{name}.json"))
    if schema is not None:
        validate(ours, schema)


def test_the_error_examples_are_our_error_format():
    for name in ("errors_example1.txt", "errors_example2.txt"):
        spec = example_xml(name)
        if spec.lstrip().startswith(b"<"):
            root, value = from_xml(spec)
        else:
            root, value = "errors", as_text(example_json(name))
        assert root == "errors"
        ours = [Error.model_validate(v).model_dump() for v in value]
        assert ours == [{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}]
        assert from_xml(to_xml("errors", ours)) == ("errors", value)


def test_our_xml_is_utf8_with_the_declaration_and_no_namespace():
    document = to_xml("services", [{"service_code": "smoke", "service_name": "Smoke — fumée", "metadata": True}])
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = etree.fromstring(document)
    assert root.tag == "services" and root.nsmap == {}
    assert root.find("service/service_name").text == "Smoke — fumée"
    assert root.find("service/metadata").text == "true"


def test_the_reader_refuses_a_dtd():
    with pytest.raises(CapError, match="DOCTYPE"):
        from_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><services>&e;</services>')


def test_the_post_example_body_is_a_form_our_reader_understands():
    from feeds.open311.service import parse_form, read_form

    body = (example_xml("post_service_request_example1.txt").strip().split(b"\n")[-1]
            .replace(b"service_code=001", b"service_code=damage")
            .replace(b"attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001", b"attribute[WHAT]=road"))
    form = read_form(parse_form(body=body, content_type="application/x-www-form-urlencoded; charset=utf-8",
                                max_bytes=16384))
    req = form.request
    assert form.api_key == "xyz" and form.jurisdiction_id == "city.gov"
    assert (req.lat, req.long, req.address_string) == (37.76524078, -122.4212043, "1234 5th street")
    assert req.description == "A large sinkhole is destroying the street"
    assert req.attributes == {"WHAT": ["road"]}
    assert req.private == {"email": "smit333@sfgov.edu", "phone": "111111111", "first_name": "john",
                           "last_name": "smith", "device_id": "tt222111", "account_id": "123456",
                           "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"}
