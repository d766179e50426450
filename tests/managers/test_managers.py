"""Managers and their PBX identities; each key sees only its own part of the company."""

import pytest

from callsvc.auth.models import Role
from tests.factories import answered_call, create_key, create_manager, post_generic


def manager_body(**overrides):
    return {
        "name": "Anna Petrova",
        "email": "anna@example.com",
        "team": "north",
        "identities": [{"provider": "generic", "identity": "101"}],
        **overrides,
    }


class TestCreate:
    def test_admin_registers_a_manager_whose_extension_then_owns_calls(self, client, session):
        admin = create_key(session)
        created = client.post("/v1/managers", json=manager_body(), headers=admin)
        assert created.status_code == 201
        assert created.json()["identities"] == [{"provider": "generic", "identity": "101"}]
        for event in answered_call("mc1", extension="101"):
            post_generic(client, event)
        [call] = client.get("/v1/calls", headers=admin).json()["items"]
        assert call["manager_id"] == created.json()["id"]

    def test_an_identity_belongs_to_one_manager_only(self, client, session):
        admin = create_key(session)
        client.post("/v1/managers", json=manager_body(), headers=admin)
        response = client.post("/v1/managers", json=manager_body(name="Boris"), headers=admin)
        assert (response.status_code, response.json()["code"]) == (409, "identity_taken")

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"name": ""}, "body.name"), ({"email": "not-an-email"}, "body.email"), ({"identities": [{}]}, None)],
    )
    def test_bad_manager_body_is_422_naming_the_field(self, client, session, body, field):
        response = client.post("/v1/managers", json=manager_body(**body), headers=create_key(session))
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_request"
        if field:
            assert response.json()["field"] == field

    def test_only_admins_register_managers(self, client, session):
        response = client.post("/v1/managers", json=manager_body(), headers=create_key(session, role=Role.crm))
        assert response.status_code == 403


class TestUpdate:
    def test_extension_passed_to_a_new_hire_leaves_old_calls_with_the_old_manager(self, client, session):
        admin = create_key(session)
        anna = create_manager(session, name="Anna", extensions=("101",))
        for event in answered_call("old", extension="101"):
            post_generic(client, event)
        client.patch(f"/v1/managers/{anna.id}", json={"active": False, "identities": []}, headers=admin)
        boris = client.post("/v1/managers", json=manager_body(name="Boris"), headers=admin).json()
        for event in answered_call("new", extension="101"):
            post_generic(client, event)
        owners = {
            c["provider_call_id"]: c["manager_id"] for c in client.get("/v1/calls", headers=admin).json()["items"]
        }
        assert owners == {"old": anna.id, "new": boris["id"]}

    def test_patch_changes_only_what_is_sent(self, client, session):
        anna = create_manager(session, extensions=("101",))
        response = client.patch(f"/v1/managers/{anna.id}", json={"team": "south"}, headers=create_key(session))
        assert (response.json()["team"], response.json()["name"]) == ("south", "Anna")
        assert response.json()["identities"] == [{"provider": "generic", "identity": "101"}]

    def test_patching_an_unknown_manager_is_404(self, client, session):
        response = client.patch("/v1/managers/999999", json={"team": "x"}, headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (404, "manager_not_found")


class TestScope:
    def test_supervisor_sees_its_team_and_a_rep_sees_itself(self, client, session):
        anna = create_manager(session, name="Anna", team="north")
        boris = create_manager(session, name="Boris", team="south")
        supervisor = create_key(session, role=Role.supervisor, team="north")
        rep = create_key(session, role=Role.rep, manager_id=boris.id)

        assert [m["name"] for m in client.get("/v1/managers", headers=supervisor).json()["items"]] == ["Anna"]
        assert [m["name"] for m in client.get("/v1/managers", headers=rep).json()["items"]] == ["Boris"]
        assert client.get(f"/v1/managers/{boris.id}", headers=supervisor).status_code == 404
        assert client.get(f"/v1/managers/{anna.id}", headers=rep).status_code == 404
        assert client.get(f"/v1/managers/{anna.id}", headers=create_key(session, role=Role.crm)).status_code == 200


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_email_without_a_domain_is_refused(client, session, method):
    headers = create_key(session)
    manager = client.post("/v1/managers", json={"name": "Anna"}, headers=headers).json()
    path = "/v1/managers" if method == "post" else f"/v1/managers/{manager['id']}"
    response = client.request(method, path, json={"name": "Boris", "email": "boris"}, headers=headers)
    assert (response.status_code, response.json()["field"]) == (422, "body.email")


@pytest.mark.parametrize("body", [{"name": None}, {"active": None}])
def test_a_field_that_cannot_be_empty_sent_as_null_is_422(client, session, body):
    anna = create_manager(session)
    response = client.patch(f"/v1/managers/{anna.id}", json=body, headers=create_key(session))
    assert (response.status_code, response.json()["field"]) == (422, f"body.{next(iter(body))}")


def test_null_email_and_team_clear_them(client, session):
    anna = create_manager(session, team="north")
    response = client.patch(f"/v1/managers/{anna.id}", json={"team": None}, headers=create_key(session))
    assert (response.status_code, response.json()["team"]) == (200, None)
