"""With the database away, nothing can be kept: senders are told to try again (503), not that we failed (500)."""

import json
import socket

import pytest
from fastapi.testclient import TestClient

from callsvc.app import create_app
from tests.factories import GENERIC_SECRET, ExplicitSettings, answered_call, signed_headers


@pytest.fixture
def refusing_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_webhook_and_an_api_call_are_answered_503_with_retry_after(refusing_port):
    settings = ExplicitSettings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{refusing_port}/x",
        generic_secret=GENERIC_SECRET,
        scheduler_enabled=False,
    )
    body = json.dumps(answered_call("away-1")[0])
    with TestClient(create_app(settings)) as client:
        webhook = client.post("/webhooks/generic", content=body, headers=signed_headers(body))
        api = client.get("/v1/calls", headers={"Authorization": "Bearer csk_anything"})
    for response in (webhook, api):
        assert (response.status_code, response.json()["code"]) == (503, "database_unavailable")
        assert response.headers["retry-after"] == "5"
