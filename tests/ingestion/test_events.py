"""/v1/events: admins see the deliveries that failed to apply or were refused, and replay them after a fix."""

from datetime import UTC, datetime

import pytest

from callsvc.auth.models import Role
from callsvc.calls import apply as service
from callsvc.managers.models import Manager
from callsvc.providers.base import PayloadInvalid
from callsvc.providers.generic import GenericAdapter
from tests.factories import (
    GENERIC_SECRET,
    answered_call,
    calls_in_db,
    create_key,
    create_manager,
    load_payloads,
    post_generic,
    record_call,
)
from tests.providers.test_zadarma import SECRET as ZADARMA_SECRET
from tests.providers.test_zadarma import post as post_zadarma


@pytest.fixture
def settings_overrides() -> dict:
    return {"generic_secret": GENERIC_SECRET, "zadarma_api_secret": ZADARMA_SECRET, "timezone": "Europe/Moscow"}


@pytest.fixture
def broken_apply(monkeypatch):
    """A bug in applying events: every delivery is kept unprocessed until the fix (undo)."""

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service, "derive_call_state", broken)
    return monkeypatch


def refuse_everything(self, request, settings):
    """A parser that wrongly refuses the provider's own format."""
    raise PayloadInvalid("simulated parser bug", field="type")


def key_of(session, role: Role) -> dict[str, str]:
    """A key of a role that is not admin, bound the way that role must be."""
    if role is Role.rep:
        return create_key(session, role=role, manager_id=create_manager(session).id)
    return create_key(session, role=role, team="north" if role is Role.supervisor else None)


def unprocessed(client, headers, **params) -> dict:
    return client.get("/v1/events", params={"status": "unprocessed", **params}, headers=headers).json()


class TestListUnprocessed:
    def test_a_delivery_that_failed_to_apply_is_listed_with_its_error(self, client, session, broken_apply):
        admin = create_key(session)
        post_zadarma(client, load_payloads("zadarma", "inbound_missed")[0])

        [item] = unprocessed(client, admin)["items"]
        assert item["provider"] == "zadarma"
        assert item["type"] == "NOTIFY_START"
        assert item["provider_call_id"] == "in_5c1a9e0b7d3f42a68e1c0b9d7f3a2e4c6b8d0f12"
        assert item["status"] == "unprocessed"
        assert "simulated bug" in item["error"]
        assert set(item) == {"id", "provider", "type", "provider_call_id", "status", "error", "received_at"}

    def test_applied_deliveries_are_not_listed_as_unprocessed(self, client, session):
        admin = create_key(session)
        post_generic(client, answered_call("a1")[0])
        assert unprocessed(client, admin) == {"items": [], "next_cursor": None}
        assert [item["status"] for item in client.get("/v1/events", headers=admin).json()["items"]] == ["applied"]

    def test_the_list_pages_by_cursor(self, client, session, broken_apply):
        admin = create_key(session)
        for event in answered_call("p1")[:3]:
            post_generic(client, event)
        first = unprocessed(client, admin, limit=2)
        second = unprocessed(client, admin, limit=2, cursor=first["next_cursor"])
        assert [len(first["items"]), len(second["items"]), second["next_cursor"]] == [2, 1, None]
        assert first["items"][-1]["id"] < second["items"][0]["id"]

    @pytest.mark.parametrize("role", [Role.crm, Role.supervisor, Role.rep])
    def test_only_admins_see_the_deliveries(self, client, session, role):
        response = client.get("/v1/events", headers=key_of(session, role))
        assert (response.status_code, response.json()["code"]) == (403, "role_forbidden")


class TestDeliveriesOfACall:
    @pytest.fixture
    def anna(self, session) -> Manager:
        return create_manager(session, name="Anna", team="north", extensions=("101",))

    @pytest.fixture
    def call_id(self, client, session, anna, request) -> int:
        """A call of Anna's whose last delivery failed to apply."""
        events = answered_call("d1", extension="101")
        call_id = record_call(client, session, events[:3])
        request.getfixturevalue("broken_apply")
        assert post_generic(client, events[3]).status_code == 200
        return call_id

    def test_an_admin_sees_why_a_delivery_failed(self, client, session, call_id):
        call = client.get(f"/v1/calls/{call_id}", headers=create_key(session)).json()
        assert call["events"][-1]["status"] == "unprocessed"
        assert "simulated bug" in call["events"][-1]["error"]

    @pytest.mark.parametrize("role", [Role.crm, Role.supervisor, Role.rep])
    def test_other_keys_see_that_it_failed_but_not_the_error_which_may_quote_sql(
        self, client, session, anna, call_id, role
    ):
        key = create_key(
            session,
            role=role,
            team="north" if role is Role.supervisor else None,
            manager_id=anna.id if role is Role.rep else None,
        )
        call = client.get(f"/v1/calls/{call_id}", headers=key).json()
        assert [(event["status"], event["error"]) for event in call["events"]] == [
            ("applied", None),
            ("applied", None),
            ("applied", None),
            ("unprocessed", None),
        ]


class TestReplay:
    def test_after_the_fix_a_replay_applies_the_delivery_and_the_call_appears(self, client, session, broken_apply):
        admin = create_key(session)
        post_zadarma(client, load_payloads("zadarma", "inbound_missed")[0])
        assert calls_in_db(session) == []
        [item] = unprocessed(client, admin)["items"]

        broken_apply.undo()
        response = client.post(f"/v1/events/{item['id']}/replay", headers=admin)

        assert response.status_code == 200
        assert (response.json()["status"], response.json()["error"]) == ("applied", None)
        [call] = calls_in_db(session)
        assert (call.provider, call.status, call.client_number) == ("zadarma", "ringing", "+79161234567")
        assert call.started_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        assert unprocessed(client, admin)["items"] == []

    def test_replay_before_the_fix_keeps_the_delivery_unprocessed(self, client, session, broken_apply):
        admin = create_key(session)
        post_generic(client, answered_call("r2")[0])
        [item] = unprocessed(client, admin)["items"]
        response = client.post(f"/v1/events/{item['id']}/replay", headers=admin)
        assert (response.status_code, response.json()["status"]) == (200, "unprocessed")
        assert "simulated bug" in response.json()["error"]
        assert calls_in_db(session) == []

    def test_replaying_an_applied_delivery_is_409(self, client, session):
        admin = create_key(session)
        post_generic(client, answered_call("r3")[0])
        [item] = client.get("/v1/events", headers=admin).json()["items"]
        response = client.post(f"/v1/events/{item['id']}/replay", headers=admin)
        assert (response.status_code, response.json()["code"]) == (409, "event_already_applied")

    def test_a_delivery_rejected_by_a_parser_bug_applies_when_replayed_after_the_fix(
        self, client, session, monkeypatch
    ):
        admin = create_key(session)
        monkeypatch.setattr(GenericAdapter, "parse", refuse_everything)
        refused = post_generic(client, answered_call("r5")[0])
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_payload")
        [item] = client.get("/v1/events", params={"status": "rejected"}, headers=admin).json()["items"]

        monkeypatch.undo()
        response = client.post(f"/v1/events/{item['id']}/replay", headers=admin)

        assert (response.status_code, response.json()["status"], response.json()["error"]) == (200, "applied", None)
        assert [call.provider_call_id for call in calls_in_db(session)] == ["r5"]

    def test_replaying_an_unknown_delivery_is_404(self, client, session):
        response = client.post("/v1/events/999999/replay", headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (404, "event_not_found")

    @pytest.mark.parametrize("role", [Role.crm, Role.supervisor, Role.rep])
    def test_only_admins_replay(self, client, session, broken_apply, role):
        post_generic(client, answered_call("r4")[0])
        [item] = unprocessed(client, create_key(session))["items"]
        broken_apply.undo()
        response = client.post(f"/v1/events/{item['id']}/replay", headers=key_of(session, role))
        assert response.status_code == 403
        assert calls_in_db(session) == []
