"""Input the service cannot compute with or store is 422 {detail, code, field}, never a 5xx or an undocumented 400."""

import base64
import json
import re

import pytest

from tests.factories import answered_call, create_key, create_manager, record_call
from tests.test_openapi import SPEC

TOO_BIG = 2**31  # one past the INTEGER columns' range (int4 on PostgreSQL)
HUGE = 10**30
V1_OPERATIONS = [
    (method.upper(), path)
    for path, operations in json.loads(SPEC.read_text())["paths"].items()
    if path.startswith("/v1/")
    for method in operations
]


def cursor_of(*values) -> str:
    """A cursor as a client could forge it: base64 of a JSON array."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.fixture
def admin(session) -> dict[str, str]:
    return create_key(session)


@pytest.fixture
def call_id(client, session) -> int:
    create_manager(session, extensions=("101",))
    return record_call(client, session, answered_call("bounds", extension="101"))


def assert_422(response, field: str | None, code: str = "invalid_request") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail", "code", "field"}
    assert (body["code"], body["field"]) == (code, field)
    assert body["detail"]


class TestIds:
    @pytest.mark.parametrize(
        ("method", "path", "field"),
        [
            ("GET", "/v1/calls/0", "path.call_id"),
            ("GET", f"/v1/calls/{TOO_BIG}", "path.call_id"),
            ("GET", f"/v1/calls/{HUGE}", "path.call_id"),
            ("GET", "/v1/calls/-1", "path.call_id"),
            ("GET", f"/v1/managers/{TOO_BIG}", "path.manager_id"),
            ("GET", f"/v1/managers/{TOO_BIG}/gate", "path.manager_id"),
            ("PATCH", f"/v1/managers/{HUGE}", "path.manager_id"),
            ("DELETE", f"/v1/keys/{TOO_BIG}", "path.key_id"),
            ("POST", f"/v1/events/{HUGE}/replay", "path.event_id"),
            ("POST", f"/v1/calls/{TOO_BIG}/outcome", "path.call_id"),
            ("GET", f"/v1/calls?manager={TOO_BIG}", "query.manager"),
            ("GET", "/v1/calls?manager=0", "query.manager"),
        ],
    )
    def test_an_id_no_row_can_have_is_422(self, client, admin, method, path, field):
        body = {"outcome": "spam"} if path.endswith("/outcome") else {} if method == "PATCH" else None
        assert_422(client.request(method, path, headers=admin, json=body), field)

    def test_the_largest_id_is_an_ordinary_404(self, client, admin):
        response = client.get(f"/v1/calls/{TOO_BIG - 1}", headers=admin)
        assert (response.status_code, response.json()["code"]) == (404, "call_not_found")

    @pytest.mark.parametrize("manager_id", [TOO_BIG, HUGE, 0])
    def test_a_manager_id_in_a_body_is_bounded(self, client, admin, call_id, manager_id):
        assign = client.patch(f"/v1/calls/{call_id}", headers=admin, json={"manager_id": manager_id})
        key = client.post("/v1/keys", headers=admin, json={"name": "r", "role": "rep", "manager_id": manager_id})
        assert_422(assign, "body.manager_id")
        assert_422(key, "body.manager_id")

    @pytest.mark.parametrize(("method", "path"), [("POST", "/v1/outcomes"), ("PATCH", "/v1/outcomes/spam")])
    def test_min_talk_seconds_fits_its_column(self, client, admin, method, path):
        body = {"code": "long_talk", "label": "Long talk", "min_talk_seconds": TOO_BIG}
        assert_422(client.request(method, path, headers=admin, json=body), "body.min_talk_seconds")


class TestDatesAndTimes:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"started_from": "0001-01-01"}, "query.started_from"),
            ({"started_from": "1969-12-31"}, "query.started_from"),
            ({"started_to": "9999-12-31"}, "query.started_to"),
            ({"started_to": "9999-12-31", "tz": "Pacific/Kiritimati"}, "query.started_to"),
            ({"updated_since": "2026-11-22T10:00:00"}, "query.updated_since"),
            ({"updated_since": "0001-01-01T00:00:00+01:00"}, "query.updated_since"),
            ({"updated_since": "9999-12-31T23:59:59-14:00"}, "query.updated_since"),
        ],
    )
    def test_a_feed_date_outside_the_calendar_we_compute_with_is_422(self, client, admin, params, field):
        assert_422(client.get("/v1/calls", params=params, headers=admin), field)

    @pytest.mark.parametrize(
        "params",
        [
            {"started_from": "1970-01-01", "started_to": "9998-12-31", "tz": "Pacific/Kiritimati"},
            {"started_from": "1970-01-01", "tz": "Pacific/Pago_Pago"},
            {"updated_since": "1970-01-01T00:00:00Z"},
        ],
    )
    def test_the_ends_of_the_range_are_accepted(self, client, admin, params):
        assert client.get("/v1/calls", params=params, headers=admin).status_code == 200

    @pytest.mark.parametrize("follow_up_at", ["9999-12-31T23:59:59-14:00", "2026-11-23T10:00:00"])
    def test_a_follow_up_time_must_be_in_range_and_carry_its_offset(self, client, admin, call_id, follow_up_at):
        body = {"outcome": "callback", "follow_up_at": follow_up_at}
        assert_422(client.post(f"/v1/calls/{call_id}/outcome", headers=admin, json=body), "body.follow_up_at")


class TestTimeZones:
    @pytest.mark.parametrize("tz", ["Mars/Olympus", "Europe", "../../etc/passwd", "zone.tab", "utc", "UTC\x7f"])
    def test_a_name_that_is_not_an_iana_zone_is_422(self, client, admin, tz):
        assert_422(client.get("/v1/calls", params={"tz": tz}, headers=admin), "tz", code="invalid_timezone")

    def test_a_name_too_long_to_be_a_zone_is_422(self, client, admin):
        assert_422(client.get("/v1/calls", params={"tz": "Europe/" + "x" * 300}, headers=admin), "query.tz")


class TestCursors:
    @pytest.mark.parametrize(
        ("path", "cursor"),
        [
            ("/v1/calls", cursor_of("2026-11-22T10:00:00", 1)),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z", True)),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z", 1.0)),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z", "1")),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z", TOO_BIG)),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z", HUGE)),
            ("/v1/calls", cursor_of("0001-01-01T00:00:00+01:00", 1)),
            ("/v1/calls", cursor_of(1700000000, 1)),
            ("/v1/calls", cursor_of("2026-11-22T10:00:00Z")),
            ("/v1/calls", cursor_of({"updated_at": "2026-11-22T10:00:00Z", "id": 1})),
            ("/v1/calls", "not base64!"),
            ("/v1/calls", "é"),
            ("/v1/queue", cursor_of(None, 1)),
            ("/v1/managers", cursor_of(True)),
            ("/v1/managers", cursor_of(0)),
            ("/v1/keys", cursor_of(HUGE)),
            ("/v1/events", cursor_of(-1)),
        ],
    )
    def test_a_cursor_this_service_did_not_issue_is_422(self, client, admin, path, cursor):
        assert_422(client.get(path, params={"cursor": cursor}, headers=admin), "cursor", code="invalid_cursor")

    def test_a_cursor_it_issued_is_still_accepted(self, client, admin):
        first = client.get("/v1/keys", params={"limit": 1}, headers=admin).json()
        again = client.get("/v1/keys", params={"cursor": first["next_cursor"]}, headers=admin)
        assert again.status_code == 200


class TestText:
    @pytest.mark.parametrize(
        ("path", "field"),
        [
            ("/v1/calls?team=a%00b", "query.team"),
            ("/v1/calls?line=%FF", "query.line"),
            ("/v1/calls?%00=1", "query"),
            ("/v1/calls?team=%ED%A0%80", "query.team"),  # a UTF-16 surrogate, encoded as if it were UTF-8
            ("/v1/outcomes/spam%00", "path"),
            ("/v1/outcomes/%C3%28", "path"),
            ("/v1/keys?cursor=%00", "query.cursor"),
        ],
    )
    def test_nul_or_broken_utf8_in_the_url_is_422(self, client, admin, path, field):
        assert_422(client.get(path, headers=admin), field, code="invalid_text")

    @pytest.mark.parametrize(
        "content",
        [
            b'{"name": "Anna\\u0000"}',
            b'{"name": "Anna", "identities": [{"provider": "generic", "identity": "1\\u00000"}]}',
            b'{"name": "Anna\\ud800"}',
            b'{"name": "Anna\\udc00\\ud800"}',
            b'{"name\\u0000": "Anna"}',
            b'{"name": "Anna \xff"}',
            b'{"name": "Anna \xed\xa0\x80"}',
        ],
    )
    def test_nul_or_broken_utf8_in_a_body_is_422(self, client, admin, content):
        response = client.post("/v1/managers", content=content, headers={**admin, "content-type": "application/json"})
        assert_422(response, "body", code="invalid_text")

    @pytest.mark.parametrize(
        "content",
        [
            b'{"name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
            b'{"name": "Anna", "active": ' + b"1" * 5000 + b"}",
        ],
    )
    def test_a_body_the_json_parser_cannot_read_is_422(self, client, admin, content):
        response = client.post("/v1/managers", content=content, headers={**admin, "content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["field"].startswith("body")

    def test_a_raw_nul_byte_is_not_json(self, client, admin):
        content = b'{"name": "Anna\x00"}'
        response = client.post("/v1/managers", content=content, headers={**admin, "content-type": "application/json"})
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request")

    def test_a_note_with_nul_is_refused_before_it_reaches_the_database(self, client, admin, call_id):
        body = {"outcome": "spam", "note": "tagged\x00"}
        response = client.post(f"/v1/calls/{call_id}/outcome", headers=admin, json=body)
        assert_422(response, "body", code="invalid_text")
        assert client.get(f"/v1/calls/{call_id}", headers=admin).json()["outcome"] is None

    @pytest.mark.parametrize(("method", "path"), V1_OPERATIONS)
    def test_every_v1_route_checks_its_text(self, client, admin, method, path):
        url = re.sub(r"{\w+}", "1", path)
        assert_422(client.request(method, url, params={"x": "\x00"}, headers=admin), "query.x", code="invalid_text")
