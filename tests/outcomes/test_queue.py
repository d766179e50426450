"""GET /v1/queue: which calls wait for an outcome, in which order, with what context."""

from datetime import timedelta

import pytest

from tests.factories import CALLS_START, answered_call, generic_event, missed_call, record_call


def queue(client, headers, **params):
    response = client.get("/v1/queue", headers=headers, params=params)
    assert response.status_code == 200
    return response.json()


def test_oldest_end_first_whatever_order_the_calls_arrived_in(client, session, floor):
    late = record_call(client, session, answered_call("late", extension="101", talk=200))
    early = record_call(client, session, answered_call("early", extension="101", talk=30))
    middle = record_call(client, session, answered_call("middle", extension="102", talk=100))
    items = queue(client, floor.keys["supervisor"])["items"]
    assert [item["id"] for item in items] == [early, middle, late]


def test_pages_through_the_queue_with_the_cursor(client, session, floor):
    ids = [record_call(client, session, answered_call(f"p{talk}", extension="101", talk=talk)) for talk in (10, 20, 30)]
    first = queue(client, floor.keys["rep"], limit=2)
    second = queue(client, floor.keys["rep"], limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


def test_missed_ongoing_and_tagged_calls_are_not_pending(client, session, floor):
    record_call(client, session, missed_call("missed", offered=("101",)))
    started, offered, answered, _ = answered_call("ongoing", extension="101")
    record_call(client, session, [started, offered, answered])
    tagged = record_call(client, session, answered_call("tagged", extension="101"))
    client.post(f"/v1/calls/{tagged}/outcome", json={"outcome": "spam"}, headers=floor.keys["rep"])
    pending = record_call(client, session, answered_call("pending", extension="101"))
    assert [item["id"] for item in queue(client, floor.keys["rep"])["items"]] == [pending]


def outbound_call(call_id: str) -> list[dict]:
    """The generic events of a 60-second answered call Anna (ext 101) dialled."""
    line_and_client = {"from": "+74951112233", "to": "+79161234567"}
    return [
        generic_event(
            "call.started", call_id, "2026-11-22T10:00:00Z", direction="outbound", extension="101", **line_and_client
        ),
        generic_event("call.answered", call_id, "2026-11-22T10:00:05Z", extension="101"),
        generic_event("call.ended", call_id, "2026-11-22T10:01:05Z", disposition="answered"),
    ]


def test_outbound_calls_wait_only_when_tag_outbound_is_on(client, session, floor):
    record_call(client, session, outbound_call("out"))
    assert queue(client, floor.keys["rep"])["items"] == []


class TestTagOutbound:
    @pytest.fixture
    def settings_overrides(self):
        return {"tag_outbound": True}

    def test_answered_outbound_call_waits_for_an_outcome(self, client, session, floor):
        call_id = record_call(client, session, outbound_call("out"))
        [item] = queue(client, floor.keys["rep"])["items"]
        assert (item["id"], item["direction"], item["tag_due_at"]) == (call_id, "outbound", "2026-11-22T10:11:05Z")


class TestMinTalk:
    @pytest.fixture
    def settings_overrides(self):
        return {"min_talk_seconds": 30, "tag_deadline_minutes": 15}

    def test_calls_shorter_than_the_minimum_need_no_outcome(self, client, session, floor):
        record_call(client, session, answered_call("short", extension="101", talk=29))
        long_enough = record_call(client, session, answered_call("long", extension="101", talk=30))
        [item] = queue(client, floor.keys["rep"])["items"]
        assert (item["id"], item["needs_outcome"]) == (long_enough, True)
        assert item["tag_due_at"] == "2026-11-22T10:15:35Z"


def test_item_carries_the_overdue_flag_and_etag(client, session, floor, clock):
    record_call(client, session, answered_call("q", extension="101"))
    [item] = queue(client, floor.keys["rep"])["items"]
    assert (item["overdue"], item["etag"]) == (False, '"1"')
    clock.current = CALLS_START + timedelta(minutes=11, seconds=5)
    [item] = queue(client, floor.keys["rep"])["items"]
    assert item["overdue"] is True


def test_context_is_the_clients_last_five_other_calls_company_wide(client, session, floor):
    number = "+79035550000"
    earlier = [
        record_call(
            client,
            session,
            answered_call(
                f"h{day}", client_number=number, extension="201", started_at=CALLS_START - timedelta(days=day)
            ),
        )
        for day in range(1, 8)
    ]
    client.post(f"/v1/calls/{earlier[0]}/outcome", json={"outcome": "meeting"}, headers=floor.keys["admin"])
    record_call(client, session, answered_call("other-client", client_number="+79035551111", extension="101"))
    current = record_call(client, session, answered_call("now", client_number=number, extension="101"))

    items = {item["id"]: item for item in queue(client, floor.keys["rep"])["items"]}
    recent = items[current]["recent_calls"]
    assert [call["id"] for call in recent] == earlier[:5]
    assert (recent[0]["manager_name"], recent[0]["outcome"], recent[0]["started_at"]) == (
        "Carl",
        "meeting",
        "2026-11-21T10:00:00Z",
    )


def test_call_from_an_anonymous_number_has_no_context(client, session, floor):
    events = answered_call("anon", extension="101")
    for event in events:
        event.pop("from", None)
    record_call(client, session, events)
    [item] = queue(client, floor.keys["rep"])["items"]
    assert (item["client_number"], item["recent_calls"]) == (None, [])
