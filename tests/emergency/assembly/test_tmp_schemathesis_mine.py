"""schemathesis over the whole OpenAPI document, in process, under every principal.

The real app (``create_app``: the embedded Tansu broker, a real SQLite store, started by the app's
own lifespan on schemathesis's ASGI event loop) answers generated requests to every operation,
with no token and with a token of each role. Each answer is checked: never a server error, its
status documented for the operation, its body and content type as documented. Examples are bounded
and derandomised (the same requests every run), so it runs in a couple of minutes; every failure is
collected and reported at the end, not shrunk.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emergency.assembly.app import create_app
from emergency.config import Settings
from tests.conftest import ADMIN_TOKEN, REGION

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}  # per operation and mode: anonymous, admin
# every other role: its refusals and its own operations, with fewer examples each (about 170 operations times
# a dozen principals: the full count for every role took CI past its time limit)
ROLE_EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}
FULL = ("anonymous", "admin")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]

# One token per role (agency and alert originator tokens need their area), created through the admin API.
ROLE_TOKENS = {
    "agency": {"roles": ["agency"], "agency": "City of Portland", "jurisdiction": REGION["jurisdiction"]},
    "coordinator": {"roles": ["coordinator"]},
    "alert_originator": {"roles": ["alert_originator"], "agency": "County EM", "jurisdiction": REGION["jurisdiction"]},
    "amber": {"roles": ["alert_originator", "amber"], "agency": "State Police",
              "jurisdiction": REGION["jurisdiction"]},
    "national_authority": {"roles": ["national_authority"]},
    "collector": {"roles": ["collector"]},
    "registry_officer": {"roles": ["registry_officer"]},
    "alert_approver": {"roles": ["alert_approver"], "person": "Duty officer"},  # alert drafts (issue 15)
}


@pytest.fixture
def schema(tmp_path: Path) -> Iterator[tuple[schemathesis.BaseSchema, dict[str, dict[str, str]]]]:
    """The app's OpenAPI loaded by schemathesis, the app started, and the headers of every principal."""
    tmp = tmp_path  # schemathesis's pytest plugin ends every ASGI lifespan after each test: one app per test
    settings = Settings(store_url=f"sqlite:///{tmp / 'store.sqlite3'}", data_dir=tmp,
                        topic_prefix=f"t{uuid.uuid4().hex[:6]}.", admin_token=ADMIN_TOKEN,
                        broker_check_interval_s=0.3, broker_timeout_s=5.0, session_timeout_ms=2000)
    app = create_app(settings)
    try:
        loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
        principals = {"anonymous": {}, "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
        with asgi.get_client(app) as client:
            for role, body in ROLE_TOKENS.items():
                answer = client.post("/api/v1/admin/tokens", json={"name": role, **body},
                                     headers=principals["admin"])
                assert answer.status_code == 201, answer.text
                principals[role] = {"Authorization": f"Bearer {answer.json()['token']}"}
        yield loaded, principals
    finally:
        asgi.shutdown_lifespans()


def run_operation(operation, headers: dict[str, str], mode: GenerationMode, examples: int) -> list[str]:
    """Generated requests of one operation under one principal; the failures found, one line each."""
    failures: list[str] = []

    @hypothesis_settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the in-process transport re-raises what the app raised: a server error
            failures.append(f"{case.method} {case.formatted_path} query={case.query} -> server error "
                            f"{type(exc).__name__}: {str(exc)[:300]!r}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # collected, so one run reports every kind of failure
            for failure in group.exceptions:
                failures.append(f"{case.method} {case.formatted_path} query={case.query} -> {response.status_code} "
                                f"{response.text[:150]!r}: {failure.title}: {failure.message[:300]!r}")

    try:
        check()
    except Unsatisfiable:  # negative mode on an operation with no input to break (GET /healthz)
        assert mode is GenerationMode.NEGATIVE
    return failures


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_under_every_principal(schema, mode):
    loaded, principals = schema
    failures: list[str] = []
    operations = [op for op in (result.ok() for result in loaded.get_all_operations()) if "drafts" in op.path]
    assert len(operations) >= 5
    for operation in operations:
        for name, headers in principals.items():
            examples = (EXAMPLES if name in FULL else ROLE_EXAMPLES)[mode]
            failures += [f"[{name}] {line}" for line in run_operation(operation, headers, mode, examples)]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(dict.fromkeys(failures))
