"""API keys: shown once, stored hashed, scoped by role, revocable."""

import pytest
from sqlmodel import select

from callsvc.auth.models import ApiKey, Role
from tests.factories import create_key, create_manager


class TestAuthentication:
    def test_missing_key_is_401(self, client):
        response = client.get("/v1/calls")
        assert (response.status_code, response.json()["code"]) == (401, "missing_api_key")
        assert response.headers["www-authenticate"] == "Bearer"

    def test_unknown_key_is_401(self, client):
        response = client.get("/v1/calls", headers={"Authorization": "Bearer csk_nope"})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")

    def test_key_is_stored_only_as_its_sha256(self, client, session):
        created = client.post("/v1/keys", json={"name": "crm", "role": "crm"}, headers=create_key(session)).json()
        stored = session.exec(select(ApiKey).where(ApiKey.id == created["id"])).one()
        assert created["key"] not in (stored.key_hash, stored.prefix)
        assert len(created["key"]) >= 43  # 256 random bits, URL-safe base64


class TestCreate:
    def test_admin_creates_a_key_that_works_and_is_shown_once(self, client, session):
        admin = create_key(session)
        created = client.post("/v1/keys", json={"name": "hubspot", "role": "crm"}, headers=admin)
        assert created.status_code == 201
        token = created.json()["key"]
        assert client.get("/v1/calls", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        listed = client.get("/v1/keys", headers=admin).json()["items"]
        assert all("key" not in item for item in listed)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"name": "s", "role": "supervisor"}, "team_required"),
            ({"name": "r", "role": "rep"}, "manager_required"),
            ({"name": "r", "role": "rep", "manager_id": 999999}, "manager_not_found"),
            ({"name": "c", "role": "crm", "team": "north"}, "team_not_allowed"),
            ({"name": "a", "role": "admin", "manager_id": 1}, "manager_not_allowed"),
        ],
    )
    def test_a_key_must_be_bound_to_what_its_role_needs(self, client, session, body, code):
        response = client.post("/v1/keys", json=body, headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (422, code)

    @pytest.mark.parametrize("role", [Role.crm, Role.supervisor, Role.rep])
    def test_only_admins_manage_keys(self, client, session, role):
        manager = create_manager(session)
        headers = create_key(
            session,
            role=role,
            team="north" if role is Role.supervisor else None,
            manager_id=manager.id if role is Role.rep else None,
        )
        assert client.get("/v1/keys", headers=headers).status_code == 403
        response = client.post("/v1/keys", json={"name": "x", "role": "admin"}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "role_forbidden")


class TestRevokeAndLastUsed:
    def test_revoked_key_is_refused_at_once(self, client, session):
        admin = create_key(session)
        created = client.post("/v1/keys", json={"name": "old", "role": "crm"}, headers=admin).json()
        crm = {"Authorization": f"Bearer {created['key']}"}
        assert client.delete(f"/v1/keys/{created['id']}", headers=admin).json()["revoked_at"] is not None
        assert client.get("/v1/calls", headers=crm).status_code == 401

    def test_last_used_at_shows_when_a_key_was_used(self, client, session, clock):
        admin = create_key(session)
        created = client.post("/v1/keys", json={"name": "crm", "role": "crm"}, headers=admin).json()
        assert created["last_used_at"] is None
        clock.advance(hours=2)
        client.get("/v1/calls", headers={"Authorization": f"Bearer {created['key']}"})
        [listed] = [k for k in client.get("/v1/keys", headers=admin).json()["items"] if k["id"] == created["id"]]
        assert listed["last_used_at"] == "2026-11-22T14:00:00Z"

    def test_revoking_an_unknown_key_is_404(self, client, session):
        response = client.delete("/v1/keys/999999", headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (404, "key_not_found")

    def test_keys_are_listed_page_by_page(self, client, session):
        admin = create_key(session)
        for index in range(3):
            client.post("/v1/keys", json={"name": f"k{index}", "role": "crm"}, headers=admin)
        first = client.get("/v1/keys", params={"limit": 3}, headers=admin).json()
        second = client.get("/v1/keys", params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin).json()
        assert len(first["items"]) == 3 and first["next_cursor"]
        assert len(second["items"]) == 1
        assert second["next_cursor"] is None
        assert {k["id"] for k in first["items"]}.isdisjoint({k["id"] for k in second["items"]})
