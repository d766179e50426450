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
