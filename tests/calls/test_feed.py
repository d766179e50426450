"""The change feed: every visible call, in (updated_at, id) order, never skipping a change."""

import pytest

from callsvc.auth.models import Role
from tests.factories import answered_call, create_key, create_manager, generic_event, missed_call, post_generic


def post_all(client, events):
    for event in events:
        assert post_generic(client, event).status_code == 200


def feed(client, headers, **params):
    response = client.get("/v1/calls", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestPaging:
    def test_pages_cover_every_call_once_and_a_changed_call_comes_again(self, client, session, clock):
        admin = create_key(session)
        for index in range(5):
            post_all(client, answered_call(f"p{index}")[:1])
            clock.advance(seconds=1)
        first = feed(client, admin, limit=3)
        second = feed(client, admin, limit=3, cursor=first["next_cursor"])
        seen = [c["provider_call_id"] for c in first["items"] + second["items"]]
        assert seen == ["p0", "p1", "p2", "p3", "p4"]
        assert second["next_cursor"] is None

        clock.advance(seconds=1)
        post_all(client, answered_call("p1")[2:3])
        later = feed(client, admin, limit=3, cursor=first["next_cursor"])
        assert [c["provider_call_id"] for c in later["items"]] == ["p3", "p4", "p1"]
        assert later["items"][-1]["status"] == "in_progress"

    def test_a_cursor_from_elsewhere_is_422(self, client, session):
        response = client.get("/v1/calls", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor")

    def test_limit_above_500_is_422(self, client, session):
        response = client.get("/v1/calls", params={"limit": 501}, headers=create_key(session))
        assert (response.status_code, response.json()["field"]) == (422, "query.limit")


class TestSettle:
    @pytest.fixture
    def settings_overrides(self):
        return {"feed_settle_seconds": 2}

    def test_changes_younger_than_the_settle_time_are_held_back(self, client, session, clock):
        admin = create_key(session)
        post_all(client, answered_call("s1")[:1])
        assert feed(client, admin)["items"] == []
        clock.advance(seconds=2)
        assert [c["provider_call_id"] for c in feed(client, admin)["items"]] == ["s1"]


class TestFilters:
    @pytest.fixture
    def calls(self, client, session, clock):
        anna = create_manager(session, name="Anna", team="north", extensions=("101",))
        boris = create_manager(session, name="Boris", team="south", extensions=("201",))
        post_all(client, answered_call("a1", extension="101"))
        post_all(client, missed_call("b1", offered=("201",)))
        post_all(client, missed_call("x1", offered=("101", "201")))
        post_all(client, answered_call("r1", extension="201")[:3])
        return {"anna": anna, "boris": boris}

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": "missed"}, {"b1", "x1"}),
            ({"team": "south"}, {"b1", "r1"}),
            ({"unassigned": "true"}, {"x1"}),
            ({"needs_outcome": "true"}, {"a1", "r1"}),
            ({"direction": "outbound"}, set()),
            ({"line": "+74951112233"}, {"a1", "b1", "x1", "r1"}),
            ({"started_from": "2026-11-22", "started_to": "2026-11-22"}, {"a1", "b1", "x1", "r1"}),
            ({"started_from": "2026-11-23"}, set()),
            # 10:00Z on the 22nd is already the 23rd on Kiritimati (UTC+14).
            ({"started_to": "2026-11-22", "tz": "Pacific/Kiritimati"}, set()),
            (
                {"started_from": "2026-11-23", "started_to": "2026-11-23", "tz": "Pacific/Kiritimati"},
                {"a1", "b1", "x1", "r1"},
            ),
            ({"started_to": "2026-11-21", "tz": "America/Los_Angeles"}, set()),
            ({"updated_since": "2026-11-22T12:00:00Z"}, {"a1", "b1", "x1", "r1"}),
            ({"updated_since": "2026-11-22T12:00:01Z"}, set()),
        ],
    )
    def test_filters_select_the_calls_they_name(self, client, session, calls, params, expected):
        items = feed(client, create_key(session), **params)["items"]
        assert {c["provider_call_id"] for c in items} == expected

    def test_manager_filter(self, client, session, calls):
        items = feed(client, create_key(session), manager=calls["anna"].id)["items"]
        assert [c["provider_call_id"] for c in items] == ["a1"]

    def test_stale_flags_a_call_with_no_end_after_the_stale_hours(self, client, session, calls, clock):
        admin = create_key(session)
        assert feed(client, admin, stale="true")["items"] == []
        clock.advance(hours=3)
        stale = feed(client, admin, stale="true")["items"]
        assert [(c["provider_call_id"], c["stale"], c["status"]) for c in stale] == [("r1", True, "in_progress")]

    def test_an_unknown_time_zone_is_422(self, client, session):
        response = client.get("/v1/calls", params={"tz": "Mars/Olympus"}, headers=create_key(session))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_timezone")


class TestScope:
    def test_each_role_sees_its_own_part_of_the_feed(self, client, session):
        anna = create_manager(session, name="Anna", team="north", extensions=("101",))
        create_manager(session, name="Boris", team="south", extensions=("201",))
        post_all(client, answered_call("a1", extension="101"))
        post_all(client, answered_call("b1", extension="201"))
        post_all(client, missed_call("x1", offered=("101", "201")))

        def seen(headers):
            return {c["provider_call_id"] for c in feed(client, headers)["items"]}

        assert seen(create_key(session, role=Role.rep, manager_id=anna.id)) == {"a1"}
        assert seen(create_key(session, role=Role.supervisor, team="north")) == {"a1", "x1"}
        assert seen(create_key(session, role=Role.crm)) == {"a1", "b1", "x1"}


class TestSingleCall:
    def test_call_view_has_the_shape_clients_rely_on_and_its_raw_events(self, client, session):
        create_manager(session, extensions=("101",))
        admin = create_key(session)
        post_all(client, answered_call("v1"))
        post_generic(
            client,
            generic_event(
                "call.recording", "v1", "2026-11-22T10:02:00Z", recording_url="https://pbx.example/rec/v1.mp3"
            ),
        )
        [listed] = feed(client, admin)["items"]
        call = client.get(f"/v1/calls/{listed['id']}", headers=admin).json()
        assert set(call) == {
            "id",
            "provider",
            "provider_call_id",
            "direction",
            "status",
            "client_number",
            "line_number",
            "manager_id",
            "started_at",
            "answered_at",
            "ended_at",
            "wait_seconds",
            "talk_seconds",
            "recording_url",
            "recording_ref",
            "missed_call_reason",
            "needs_outcome",
            "outcome",
            "outcome_note",
            "follow_up_at",
            "tagged_at",
            "tagged_by",
            "tag_due_at",
            "overdue",
            "overdue_at",
            "escalated_at",
            "stale",
            "etag",
            "updated_at",
            "outcome_history",
            "events",
        }
        assert call["started_at"] == "2026-11-22T10:00:00Z"
        assert call["recording_url"] == "https://pbx.example/rec/v1.mp3"
        assert [(e["type"], e["status"]) for e in call["events"]] == [
            ("call.started", "applied"),
            ("call.offered", "applied"),
            ("call.answered", "applied"),
            ("call.ended", "applied"),
            ("call.recording", "applied"),
        ]

    def test_a_call_outside_the_keys_scope_is_404_like_a_missing_one(self, client, session):
        create_manager(session, name="Anna", team="north", extensions=("101",))
        boris = create_manager(session, name="Boris", team="south", extensions=("201",))
        post_all(client, answered_call("a1", extension="101"))
        [call] = feed(client, create_key(session))["items"]
        rep = create_key(session, role=Role.rep, manager_id=boris.id)
        hidden = client.get(f"/v1/calls/{call['id']}", headers=rep)
        missing = client.get("/v1/calls/999999", headers=rep)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {**missing.json(), "detail": hidden.json()["detail"]}


class TestAssign:
    def test_admin_assigns_an_unassigned_call_and_later_events_keep_it(self, client, session, clock):
        anna = create_manager(session, extensions=("101",))
        admin = create_key(session)
        post_all(client, answered_call("u1", extension="999")[:3])
        [call] = feed(client, admin, unassigned="true")["items"]
        clock.advance(seconds=5)
        assigned = client.patch(f"/v1/calls/{call['id']}", json={"manager_id": anna.id}, headers=admin)
        assert assigned.status_code == 200
        assert assigned.json()["manager_id"] == anna.id
        assert assigned.json()["updated_at"] > call["updated_at"]
        post_all(client, answered_call("u1", extension="999")[3:])
        after = client.get(f"/v1/calls/{call['id']}", headers=admin).json()
        assert (after["manager_id"], after["status"]) == (anna.id, "completed")

    def test_assigning_to_a_missing_manager_is_422(self, client, session):
        admin = create_key(session)
        post_all(client, answered_call("u2", extension="999")[:1])
        [call] = feed(client, admin)["items"]
        response = client.patch(f"/v1/calls/{call['id']}", json={"manager_id": 999999}, headers=admin)
        assert (response.status_code, response.json()["code"]) == (422, "manager_not_found")

    def test_only_admins_assign_and_others_learn_nothing_of_which_calls_exist(self, client, session):
        post_all(client, answered_call("u3", extension="999")[:1])
        [call] = feed(client, create_key(session))["items"]
        crm = create_key(session, role=Role.crm)
        assert client.patch(f"/v1/calls/{call['id']}", json={"manager_id": 1}, headers=crm).status_code == 403
        assert client.patch("/v1/calls/999999", json={"manager_id": 1}, headers=crm).status_code == 403
