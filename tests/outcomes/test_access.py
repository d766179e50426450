"""Who may use the queue, tagging, the gate and the catalogue: 401, 403 and 404 as SPEC's scope rule says."""

import pytest

from tests.factories import answered_call, record_call

ROLES = ["admin", "supervisor", "other_supervisor", "rep", "other_rep", "crm"]


@pytest.fixture
def annas_call(client, session, floor) -> int:
    return record_call(client, session, answered_call("a1", extension="101"))


@pytest.mark.parametrize(
    ("role", "sees_it"),
    [
        ("admin", True),
        ("supervisor", True),
        ("other_supervisor", False),
        ("rep", True),
        ("other_rep", False),
        ("crm", True),
    ],
)
def test_queue_shows_a_call_only_to_keys_whose_scope_holds_it(client, floor, annas_call, role, sees_it):
    response = client.get("/v1/queue", headers=floor.keys[role])
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == ([annas_call] if sees_it else [])


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("supervisor", 200), ("other_supervisor", 404), ("rep", 200), ("other_rep", 404), ("crm", 403)],
)
def test_tagging_is_for_the_calls_owner_its_team_and_admins(client, session, floor, annas_call, role, status):
    response = client.post(f"/v1/calls/{annas_call}/outcome", json={"outcome": "no_need"}, headers=floor.keys[role])
    assert response.status_code == status
    call = client.get(f"/v1/calls/{annas_call}", headers=floor.keys["admin"]).json()
    assert call["outcome"] == ("no_need" if status == 200 else None)


def test_call_out_of_scope_answers_exactly_like_a_missing_call(client, floor, annas_call):
    headers = floor.keys["other_rep"]
    hidden = client.post(f"/v1/calls/{annas_call}/outcome", json={"outcome": "no_need"}, headers=headers)
    missing = client.post("/v1/calls/999999/outcome", json={"outcome": "no_need"}, headers=headers)
    assert (hidden.status_code, hidden.json()["code"]) == (missing.status_code, missing.json()["code"])


def test_crm_key_is_refused_even_for_a_call_that_does_not_exist(client, floor):
    response = client.post("/v1/calls/999999/outcome", json={"outcome": "no_need"}, headers=floor.keys["crm"])
    assert (response.status_code, response.json()["code"]) == (403, "role_forbidden")


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("supervisor", 200), ("other_supervisor", 404), ("rep", 200), ("other_rep", 404), ("crm", 200)],
)
def test_gate_is_visible_to_the_manager_its_team_admins_and_crm(client, floor, role, status):
    response = client.get(f"/v1/managers/{floor.anna}/gate", headers=floor.keys[role])
    assert response.status_code == status


@pytest.mark.parametrize("role", ROLES)
def test_every_key_reads_the_catalogue(client, floor, role):
    response = client.get("/v1/outcomes", headers=floor.keys[role])
    assert response.status_code == 200
    assert "negotiation" in {item["code"] for item in response.json()["items"]}


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_edit_the_catalogue(client, floor, role):
    created = client.post("/v1/outcomes", json={"code": "trial", "label": "Trial"}, headers=floor.keys[role])
    updated = client.patch("/v1/outcomes/spam", json={"label": "Junk"}, headers=floor.keys[role])
    expected = (201, 200) if role == "admin" else (403, 403)
    assert (created.status_code, updated.status_code) == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/queue"),
        ("post", "/v1/calls/1/outcome"),
        ("get", "/v1/managers/1/gate"),
        ("get", "/v1/outcomes"),
        ("post", "/v1/outcomes"),
        ("patch", "/v1/outcomes/spam"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer csk_not-a-key"}], ids=["missing", "bad"])
def test_without_a_valid_key_every_route_is_401(client, method, path, headers):
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
