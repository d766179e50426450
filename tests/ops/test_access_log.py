"""The access log: one JSON line per request, naming the route, never the query string or the body."""

import json
import logging

import pytest

from callsvc.logs import JsonFormatter


@pytest.fixture
def access_lines(caplog):
    """The access log lines written so far, as an operator's log shipper reads them."""
    caplog.set_level(logging.INFO, logger="callsvc.access")

    def lines() -> list[dict]:
        formatter = JsonFormatter()
        return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "callsvc.access"]

    return lines


def test_a_request_is_logged_with_its_route_template_status_and_duration(client, access_lines):
    client.get("/v1/calls/7916", params={"client_number": "+79161234567"})
    [line] = access_lines()
    assert {key: line[key] for key in ("message", "method", "path", "status")} == {
        "message": "request",
        "method": "GET",
        "path": "/v1/calls/{call_id}",
        "status": 401,
    }
    assert line["ms"] >= 0
    assert "9161234567" not in json.dumps(line)


def test_a_webhook_body_is_never_logged(client, access_lines):
    client.post("/webhooks/generic", content=b'{"from": "+79161234567"}')
    [line] = access_lines()
    assert (line["path"], line["status"]) == ("/webhooks/{provider}", 401)
    assert "9161234567" not in json.dumps(line)


def test_a_body_refused_for_its_size_is_logged_with_its_status(client, access_lines):
    client.post("/webhooks/generic", content=b"x" * (client.app.state.settings.max_body_bytes + 1))
    [line] = access_lines()
    assert (line["method"], line["path"], line["status"]) == ("POST", "/webhooks/generic", 413)
