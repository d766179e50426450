"""The committed spec is the spec the app serves."""

import json
from pathlib import Path

from callsvc.app import create_app
from tests.factories import ExplicitSettings

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app():
    served = create_app(ExplicitSettings()).openapi()
    assert json.loads(SPEC.read_text()) == served, "regenerate with: callsvc openapi > openapi/openapi.json"


def test_every_operation_lists_its_errors_and_has_a_stable_id():
    spec = json.loads(SPEC.read_text())
    operations = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all("-" in op_id for op_id in ids)


def operations() -> list[tuple[str, str, dict]]:
    spec = json.loads(SPEC.read_text())
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_error_is_documented_as_the_error_the_service_sends():
    spec = json.loads(SPEC.read_text())
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    for method, path, op in operations():
        for status, response in op["responses"].items():
            if status.startswith("4"):
                content = response["content"]
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorRead"}}}, (
                    method,
                    path,
                    status,
                )


def test_every_route_documents_the_statuses_any_request_can_get():
    for method, path, op in operations():
        documented = set(op["responses"])
        if path.startswith("/v1/"):
            assert {"401", "422"} <= documented, (method, path)
        if "requestBody" in op or (method == "POST" and path.startswith("/webhooks/")):
            assert "413" in documented, (method, path)
        if path.startswith("/webhooks/") and method == "POST":
            assert {"401", "404", "413", "422"} <= documented, (method, path)
