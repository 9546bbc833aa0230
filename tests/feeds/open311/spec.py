"""The GeoReport v2 spec's examples and JSON schemas (tests/data/open311, see its README for their sources)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

DATA = Path(__file__).resolve().parents[2] / "data" / "open311"
EXAMPLES = DATA / "examples"


def example_json(name: str) -> Any:
    """A spec JSON example, its invalid leading-zero numbers (``"service_code":001``) quoted first."""
    text = (EXAMPLES / name).read_text()
    if text.startswith("HTTP/"):
        text = text.split("\n\n", 1)[1]
    return json.loads(re.sub(r'(:\s*)(0\d+)(\s*[,}\n])', r'\1"\2"\3', text))


def example_xml(name: str) -> bytes:
    """A spec XML example's bytes (an error example without its status line)."""
    data = (EXAMPLES / name).read_bytes()
    return data.split(b"\n\n", 1)[1] if data.startswith(b"HTTP/") else data


def as_text(value: Any) -> Any:
    """The JSON form with every leaf as XML carries it: text (stripped) or None."""
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip() or None


def _registry() -> Registry:
    resources = [(path.name, Resource.from_contents({"$schema": "http://json-schema.org/draft-07/schema#",
                                                     **json.loads(path.read_text())}))
                 for path in (DATA / "schema").glob("*.json")]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(document: Any, schema: str) -> None:
    """Validate against a spec schema (``services.json``, ``service-definition.json``, ``requests.json``...)."""
    contents = REGISTRY.contents(schema)
    jsonschema.Draft7Validator(contents, registry=REGISTRY,
                               format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(document)
