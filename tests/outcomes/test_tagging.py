"""Tagging a call: catalogue rules, history, the retag window, ETag and If-Match."""

import pytest

from tests.factories import answered_call, generic_event, missed_call, post_generic, record_call


def tag(client, call_id, headers, outcome="no_need", *, if_match=None, **fields):
    if if_match is not None:
        headers = {**headers, "If-Match": if_match}
    return client.post(f"/v1/calls/{call_id}/outcome", json={"outcome": outcome, **fields}, headers=headers)


def read(client, call_id, floor):
    return client.get(f"/v1/calls/{call_id}", headers=floor.keys["admin"])


@pytest.fixture
def call_id(client, session, floor) -> int:
    """Anna's 60-second call, ended at 10:01:05."""
    return record_call(client, session, answered_call("t1", extension="101"))


class TestValidation:
    @pytest.mark.parametrize(
        ("catalogue_change", "body", "code"),
        [
            (None, {"outcome": "no_such_code"}, "unknown_outcome"),
            (("spam", {"active": False}), {"outcome": "spam"}, "inactive_outcome"),
            (("existing_client", {"requires_note": True}), {"outcome": "existing_client"}, "note_required"),
            (
                ("existing_client", {"requires_note": True}),
                {"outcome": "existing_client", "note": "  "},
                "note_required",
            ),
            (None, {"outcome": "callback"}, "follow_up_required"),
            (None, {"outcome": "no_need", "follow_up_at": "2026-11-22T10:04:00Z"}, "follow_up_in_past"),
            (("negotiation", {"min_talk_seconds": 61}), {"outcome": "negotiation"}, "talk_too_short"),
        ],
    )
    def test_each_rule_has_its_own_code_and_leaves_the_call_untagged(
        self, client, floor, call_id, catalogue_change, body, code
    ):
        if catalogue_change:
            outcome, change = catalogue_change
            assert client.patch(f"/v1/outcomes/{outcome}", json=change, headers=floor.keys["admin"]).status_code == 200
        response = client.post(f"/v1/calls/{call_id}/outcome", json=body, headers=floor.keys["rep"])
        assert (response.status_code, response.json()["code"]) == (422, code)
        call = read(client, call_id, floor).json()
        assert (call["outcome"], call["outcome_history"], call["etag"]) == (None, [], '"1"')

    def test_talk_exactly_the_outcomes_minimum_is_enough(self, client, floor, call_id):
        client.patch("/v1/outcomes/negotiation", json={"min_talk_seconds": 60}, headers=floor.keys["admin"])
        assert tag(client, call_id, floor.keys["rep"], "negotiation").status_code == 200

    def test_missed_call_cannot_be_tagged(self, client, session, floor):
        missed = record_call(client, session, missed_call("t2", offered=("101",)))
        response = tag(client, missed, floor.keys["rep"])
        assert (response.status_code, response.json()["code"]) == (422, "call_not_answered")

    def test_call_in_progress_may_be_tagged_against_its_talk_so_far(self, client, session, floor, clock):
        started, offered, answered, _ = answered_call("t3", extension="101")
        call_id = record_call(client, session, [started, offered, answered])
        client.patch("/v1/outcomes/negotiation", json={"min_talk_seconds": 600}, headers=floor.keys["admin"])
        assert tag(client, call_id, floor.keys["rep"], "negotiation").json()["code"] == "talk_too_short"
        response = tag(client, call_id, floor.keys["rep"], "meeting")
        assert (response.status_code, response.json()["status"]) == (200, "in_progress")

    def test_follow_up_time_without_a_zone_is_refused(self, client, floor, call_id):
        response = tag(client, call_id, floor.keys["rep"], "callback", follow_up_at="2026-11-23T10:00:00")
        assert (response.status_code, response.json()["field"]) == (422, "body.follow_up_at")


class TestTag:
    def test_tag_records_outcome_promise_actor_and_bumps_version_and_updated_at(self, client, floor, call_id, clock):
        response = tag(
            client, call_id, floor.keys["rep"], "callback", note="wants a quote", follow_up_at="2026-11-23T09:00:00Z"
        )
        assert response.status_code == 200
        call = response.json()
        assert call["outcome"] == "callback"
        assert call["outcome_note"] == "wants a quote"
        assert call["follow_up_at"] == "2026-11-23T09:00:00Z"
        assert call["tagged_at"] == call["updated_at"] == "2026-11-22T10:05:00Z"
        assert "Anna" in call["tagged_by"]
        assert call["etag"] == response.headers["ETag"] == '"2"'

    def test_history_names_the_key_and_the_reps_manager(self, client, floor, call_id):
        tag(client, call_id, floor.keys["rep"], "no_need", note="just browsing")
        [change] = read(client, call_id, floor).json()["outcome_history"]
        assert change["outcome"] == "no_need"
        assert change["previous"] is None
        assert change["note"] == "just browsing"
        assert change["reason"] is None
        assert change["at"] == "2026-11-22T10:05:00Z"
        assert "rep-key" in change["actor"] and "Anna" in change["actor"]

    def test_same_outcome_and_note_twice_changes_nothing(self, client, floor, call_id):
        first = tag(client, call_id, floor.keys["rep"], "no_need", note="n")
        second = tag(client, call_id, floor.keys["rep"], "no_need", note="n")
        assert second.status_code == 200
        assert second.json() == first.json()
        assert len(read(client, call_id, floor).json()["outcome_history"]) == 1

    def test_a_new_note_is_a_change(self, client, floor, call_id):
        tag(client, call_id, floor.keys["rep"], "no_need", note="n")
        response = tag(client, call_id, floor.keys["rep"], "no_need", note="price too high")
        assert response.json()["etag"] == '"3"'
        history = read(client, call_id, floor).json()["outcome_history"]
        assert [(c["previous"], c["outcome"], c["note"]) for c in history] == [
            (None, "no_need", "n"),
            ("no_need", "no_need", "price too high"),
        ]

    def test_tagged_call_leaves_the_queue(self, client, floor, call_id):
        tag(client, call_id, floor.keys["rep"])
        assert client.get("/v1/queue", headers=floor.keys["rep"]).json()["items"] == []

    def test_tag_shows_in_the_change_feed(self, client, floor, call_id, clock):
        clock.advance(minutes=1)
        tag(client, call_id, floor.keys["rep"])
        feed = client.get("/v1/calls", params={"updated_since": clock.now().isoformat()}, headers=floor.keys["crm"])
        assert [(item["id"], item["outcome"]) for item in feed.json()["items"]] == [(call_id, "no_need")]


class TestRetagWindow:
    @pytest.mark.parametrize(
        ("minutes_after_first_tag", "status", "outcome"), [(59, 200, "meeting"), (60, 403, "spam")]
    )
    def test_rep_may_retag_until_the_window_from_the_first_tag_closes(
        self, client, floor, call_id, clock, minutes_after_first_tag, status, outcome
    ):
        tag(client, call_id, floor.keys["rep"], "no_need")
        clock.advance(minutes=30)
        tag(client, call_id, floor.keys["rep"], "spam")
        clock.advance(minutes=minutes_after_first_tag - 30)
        response = tag(client, call_id, floor.keys["rep"], "meeting")
        assert response.status_code == status
        assert response.json().get("code") == (None if status == 200 else "retag_window_closed")
        assert read(client, call_id, floor).json()["outcome"] == outcome

    @pytest.mark.parametrize("role", ["supervisor", "admin"])
    def test_supervisor_or_admin_past_the_window_needs_a_reason(self, client, floor, call_id, clock, role):
        tag(client, call_id, floor.keys["rep"], "no_need")
        clock.advance(minutes=61)
        refused = tag(client, call_id, floor.keys[role], "negotiation")
        assert (refused.status_code, refused.json()["code"]) == (422, "reason_required")
        accepted = tag(client, call_id, floor.keys[role], "negotiation", reason="heard the recording")
        assert accepted.status_code == 200
        last = read(client, call_id, floor).json()["outcome_history"][-1]
        assert (last["previous"], last["outcome"], last["reason"]) == ("no_need", "negotiation", "heard the recording")

    def test_rep_may_not_undo_a_supervisors_correction_even_inside_the_window(self, client, floor, call_id, clock):
        tag(client, call_id, floor.keys["rep"], "no_need")
        clock.advance(minutes=5)
        assert tag(client, call_id, floor.keys["supervisor"], "negotiation").status_code == 200
        refused = tag(client, call_id, floor.keys["rep"], "spam")
        assert (refused.status_code, refused.json()["code"]) == (403, "retag_forbidden")
        assert read(client, call_id, floor).json()["outcome"] == "negotiation"

    def test_rep_resending_its_tag_past_the_window_gets_the_unchanged_call(self, client, floor, call_id, clock):
        tag(client, call_id, floor.keys["rep"], "no_need")
        clock.advance(minutes=90)
        assert tag(client, call_id, floor.keys["rep"], "no_need").status_code == 200


class TestETag:
    def test_get_sends_the_etag_and_a_tag_made_with_it_succeeds(self, client, floor, call_id):
        etag = read(client, call_id, floor).headers["ETag"]
        assert etag == '"1"'
        response = tag(client, call_id, floor.keys["rep"], if_match=etag)
        assert (response.status_code, response.headers["ETag"]) == (200, '"2"')
        assert read(client, call_id, floor).headers["ETag"] == '"2"'

    def test_stale_if_match_is_412_and_changes_nothing(self, client, floor, call_id):
        stale = read(client, call_id, floor).headers["ETag"]
        tag(client, call_id, floor.keys["supervisor"], "meeting")
        response = tag(client, call_id, floor.keys["rep"], "no_need", if_match=stale)
        assert (response.status_code, response.json()["code"]) == (412, "etag_mismatch")
        call = read(client, call_id, floor).json()
        assert (call["outcome"], call["etag"], len(call["outcome_history"])) == ("meeting", '"2"', 1)

    def test_weak_etag_never_matches(self, client, floor, call_id):
        response = tag(client, call_id, floor.keys["rep"], if_match='W/"1"')
        assert response.status_code == 412

    def test_retried_tag_with_its_original_if_match_gets_the_unchanged_call(self, client, floor, call_id):
        first = tag(client, call_id, floor.keys["rep"], "meeting", if_match='"1"')
        retry = tag(client, call_id, floor.keys["rep"], "meeting", if_match='"1"')
        assert (retry.status_code, retry.json()) == (200, first.json())

    def test_without_if_match_last_write_wins_and_history_keeps_both(self, client, floor, call_id):
        tag(client, call_id, floor.keys["rep"], "no_need")
        tag(client, call_id, floor.keys["supervisor"], "meeting")
        call = read(client, call_id, floor).json()
        assert call["outcome"] == "meeting"
        assert [(c["previous"], c["outcome"]) for c in call["outcome_history"]] == [
            (None, "no_need"),
            ("no_need", "meeting"),
        ]

    def test_late_recording_changes_the_call_but_not_its_etag(self, client, floor, call_id, clock):
        etag = read(client, call_id, floor).headers["ETag"]
        clock.advance(minutes=2)
        recording = generic_event(
            "call.recording", "t1", "2026-11-22T10:06:00Z", recording_url="https://pbx.example/r/1.mp3"
        )
        assert post_generic(client, recording).status_code == 200
        call = read(client, call_id, floor)
        assert (call.json()["recording_url"], call.headers["ETag"]) == ("https://pbx.example/r/1.mp3", etag)
        assert tag(client, call_id, floor.keys["rep"], if_match=etag).status_code == 200
