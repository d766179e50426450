"""The committed spec, fuzzed against the real app with each kind of key: no 5xx, and every answer as documented."""

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from callsvc.auth.models import Role
from tests.factories import answered_call, create_key, create_manager, missed_call, record_call

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
# The examples of one operation share the test's app and transaction, on purpose: what one request
# creates, the next may find. Bounded and derandomized, the run takes seconds and repeats exactly.
BOUNDED = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def committed_spec(*, coverage: bool):
    """The committed spec, as a client reads it, not as the app would serve it."""
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": coverage}}})
    # The webhook routes take each provider's signature, which generated requests cannot carry;
    # tests/calls and tests/providers send them signed deliveries instead.
    return schemathesis.openapi.from_path(SPEC, config=config).exclude(path_regex="^/webhooks/")


# The coverage phase walks every parameter's boundaries and wrong types. How the app reads input
# does not depend on the key, so it runs once, with the key every route admits.
EVERY_BOUNDARY = committed_spec(coverage=True)
FUZZED = committed_spec(coverage=False)


@pytest.fixture
def auth(role, client, session) -> dict[str, str]:
    """A key of the role, with a manager and calls for it to find."""
    anna = create_manager(session, name="Anna", extensions=("101",))
    record_call(client, session, answered_call("seed-answered", extension="101"))
    record_call(client, session, missed_call("seed-missed", offered=("101",)))
    return create_key(session, role=role, manager_id=anna.id if role is Role.rep else None)


def send_and_check(case, client, auth) -> None:
    """Send a generated request through the real app and hold its answer to the spec."""
    # Schemathesis speaks requests' dialect; httpx takes raw bodies as `content` and no per-request cookies.
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=auth)
    request.pop("cookies", None)
    if "data" in request:
        request["content"] = request.pop("data")
    case.validate_response(client.request(**request), checks=CHECKS)


@EVERY_BOUNDARY.parametrize()
@pytest.mark.parametrize("role", [Role.admin], ids=str)
@BOUNDED
def test_an_admin_key_gets_only_documented_answers(case, client, auth):
    send_and_check(case, client, auth)


@FUZZED.parametrize()
@pytest.mark.parametrize("role", [Role.rep, Role.crm], ids=str)
@BOUNDED
def test_rep_and_crm_keys_get_only_documented_answers(case, client, auth):
    send_and_check(case, client, auth)
