"""/v1/outcomes: the seeded catalogue, and codes that are added, changed and deactivated but never deleted."""

import pytest

from tests.factories import answered_call, record_call

SEEDED = {
    "callback": (False, True),
    "existing_client": (False, False),
    "meeting": (True, False),
    "negotiation": (True, False),
    "no_need": (False, False),
    "spam": (False, False),
    "wrong_number": (False, False),
}


def test_catalogue_is_seeded(client, floor):
    items = client.get("/v1/outcomes", headers=floor.keys["rep"]).json()["items"]
    assert {item["code"]: (item["is_negotiation"], item["requires_follow_up"]) for item in items} == SEEDED
    assert all(item["active"] and not item["requires_note"] for item in items)


def test_admin_adds_a_code_that_can_then_be_used(client, session, floor):
    body = {"code": "demo_booked", "label": "Demo booked", "is_negotiation": True, "requires_note": True}
    created = client.post("/v1/outcomes", json=body, headers=floor.keys["admin"])
    assert created.status_code == 201
    assert client.get("/v1/outcomes/demo_booked", headers=floor.keys["crm"]).json() == created.json()
    call_id = record_call(client, session, answered_call("c1", extension="101"))
    response = client.post(
        f"/v1/calls/{call_id}/outcome", json={"outcome": "demo_booked", "note": "Tue 3pm"}, headers=floor.keys["rep"]
    )
    assert response.json()["outcome"] == "demo_booked"


def test_existing_code_is_a_conflict(client, floor):
    response = client.post("/v1/outcomes", json={"code": "spam", "label": "Spam"}, headers=floor.keys["admin"])
    assert (response.status_code, response.json()["code"]) == (409, "outcome_exists")


def test_code_must_be_snake_case(client, floor):
    response = client.post("/v1/outcomes", json={"code": "Big Deal", "label": "x"}, headers=floor.keys["admin"])
    assert (response.status_code, response.json()["field"]) == (422, "body.code")


def test_deactivated_code_stays_listed_and_on_calls_tagged_with_it(client, session, floor):
    call_id = record_call(client, session, answered_call("c2", extension="101"))
    client.post(f"/v1/calls/{call_id}/outcome", json={"outcome": "spam"}, headers=floor.keys["rep"])
    response = client.patch("/v1/outcomes/spam", json={"active": False}, headers=floor.keys["admin"])
    assert response.json()["active"] is False
    active = client.get("/v1/outcomes", params={"active": "true"}, headers=floor.keys["rep"]).json()["items"]
    everything = client.get("/v1/outcomes", headers=floor.keys["rep"]).json()["items"]
    assert "spam" not in {item["code"] for item in active}
    assert "spam" in {item["code"] for item in everything}
    assert client.get(f"/v1/calls/{call_id}", headers=floor.keys["rep"]).json()["outcome"] == "spam"


def test_patch_changes_only_the_given_fields(client, floor):
    response = client.patch("/v1/outcomes/callback", json={"requires_note": True}, headers=floor.keys["admin"])
    assert response.json() == {
        "code": "callback",
        "label": "Call back",
        "is_negotiation": False,
        "requires_follow_up": True,
        "requires_note": True,
        "min_talk_seconds": 0,
        "active": True,
    }


@pytest.mark.parametrize("field", ["label", "active", "requires_note", "min_talk_seconds"])
def test_a_field_sent_as_null_is_422_and_changes_nothing(client, floor, field):
    response = client.patch("/v1/outcomes/spam", json={field: None}, headers=floor.keys["admin"])
    assert (response.status_code, response.json()["field"]) == (422, f"body.{field}")
    assert client.get("/v1/outcomes/spam", headers=floor.keys["admin"]).json()["active"] is True


def test_unknown_code_is_404(client, floor):
    response = client.patch("/v1/outcomes/nope", json={"label": "x"}, headers=floor.keys["admin"])
    assert (response.status_code, response.json()["code"]) == (404, "outcome_not_found")


def test_there_is_no_delete(client, floor):
    assert client.delete("/v1/outcomes/spam", headers=floor.keys["admin"]).status_code == 405
