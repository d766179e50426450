"""derive_call_state rule by rule: plain event rows in, the call's state out, no database."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callsvc.calls.events import Direction, Disposition, EventKind
from callsvc.calls.state import CallState, derive_call_state
from tests.factories import ExplicitSettings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ANNA, BORIS = 1, 2
# What ingestion resolved each extension to: Anna answers on 101 and 103, Boris on 102; 555 is nobody's.
MANAGERS = {"101": ANNA, "103": ANNA, "102": BORIS}
CLIENT, LINE = "+79161234567", "+74951112233"


@dataclass(frozen=True, kw_only=True)
class Fact:
    """One stored event row, as derive_call_state reads it."""

    kind: EventKind
    occurred_at: datetime
    seq: int | None = None
    leg: str | None = None
    direction: Direction | None = None
    from_number: str | None = None
    to_number: str | None = None
    identity: str | None = None
    manager_id: int | None = None
    disposition: Disposition | None = None
    talk_seconds: int | None = None
    recording_url: str | None = None
    recording_ref: str | None = None
    missed_call_reason: str | None = None
    tie_break: str = ""


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def fact(kind: EventKind, second: int, ext: str | None = None, **fields: Any) -> Fact:
    return Fact(kind=kind, occurred_at=at(second), identity=ext, manager_id=MANAGERS.get(ext), **fields)


def started(
    second: int = 0, *, caller: str = "8 916 123 45 67", line: str = "8 (495) 111-22-33", **fields: Any
) -> Fact:
    """An inbound call from the client to the company line, in the national format a Russian PBX sends."""
    return fact(EventKind.started, second, direction=Direction.inbound, from_number=caller, to_number=line, **fields)


def dialled(second: int = 0, ext: str = "102", **fields: Any) -> Fact:
    """An outbound call a manager dials from the company line to the client."""
    numbers = {"from_number": "+7 495 111 22 33", "to_number": "+7 916 123-45-67"}
    return fact(EventKind.started, second, ext, direction=Direction.outbound, **numbers, **fields)


def internal(second: int = 0, ext: str = "101", to: str = "102") -> Fact:
    return fact(EventKind.started, second, ext, direction=Direction.internal, from_number=ext, to_number=to)


def offered(second: int, ext: str, **fields: Any) -> Fact:
    return fact(EventKind.offered, second, ext, **fields)


def answered(second: int, ext: str | None, **fields: Any) -> Fact:
    return fact(EventKind.answered, second, ext, **fields)


def ended(second: int, disposition: Disposition = Disposition.answered, **fields: Any) -> Fact:
    return fact(EventKind.ended, second, disposition=disposition, **fields)


def recording(second: int, **fields: Any) -> Fact:
    return fact(EventKind.recording, second, **fields)


def numbered(events: list[Fact]) -> list[Fact]:
    """Give each row its own delivery key, as ingestion does."""
    return [replace(event, tie_break=f"delivery-{index}") for index, event in enumerate(events)]


def derive(events: list[Fact], **settings: Any) -> CallState:
    return derive_call_state(numbered(events), ExplicitSettings(**settings))


def rule(id_: str, events: list[Fact], *, settings: dict | None = None, **expected: Any):
    """One row: the events, any settings that differ from the defaults, and the fields the rule decides."""
    return pytest.param(events, settings or {}, expected, id=id_)


ANSWERED = [started(), offered(1, "101"), answered(6, "101"), ended(186)]
DIALLED = [dialled(), answered(10, "102"), ended(50)]

RULES = [
    # Status and owner, SPEC's "Call semantics" table row by row.
    rule(
        "inbound-ringing",
        [started(), offered(1, "101")],
        status="ringing",
        manager_id=None,
        answered_at=None,
        ended_at=None,
        needs_outcome=False,
    ),
    rule(
        "answered-in-progress",
        [started(), offered(1, "101"), answered(6, "101")],
        status="in_progress",
        manager_id=ANNA,
        answered_at=at(6),
        ended_at=None,
        talk_seconds=None,
        needs_outcome=True,
        tag_due_at=None,
    ),
    rule(
        "answered-completed",
        ANSWERED,
        status="completed",
        manager_id=ANNA,
        answered_at=at(6),
        ended_at=at(186),
        needs_outcome=True,
    ),
    rule(
        "transferred-owner-is-the-last-answerer",
        [started(), answered(6, "101"), answered(60, "102"), ended(186)],
        status="completed",
        manager_id=BORIS,
        answered_at=at(6),
    ),
    rule(
        "transferred-to-an-unknown-extension-is-unassigned",
        [started(), answered(6, "101"), answered(60, "555"), ended(186)],
        status="completed",
        manager_id=None,
    ),
    rule(
        "missed-offered-to-one-manager-is-hers",
        [started(), offered(1, "101"), ended(25, Disposition.no_answer)],
        status="missed",
        manager_id=ANNA,
        answered_at=None,
        talk_seconds=None,
        needs_outcome=False,
        tag_due_at=None,
    ),
    rule(
        "missed-offered-to-one-manager-on-two-phones-is-hers",
        [started(), offered(1, "101"), offered(1, "103"), ended(25, Disposition.no_answer)],
        status="missed",
        manager_id=ANNA,
    ),
    rule(
        "missed-offered-to-two-managers-belongs-to-the-line",
        [started(), offered(1, "101"), offered(1, "102"), ended(40, Disposition.busy)],
        status="missed",
        manager_id=None,
    ),
    rule(
        "missed-offered-to-a-manager-and-an-unknown-extension-belongs-to-the-line",
        [started(), offered(1, "101"), offered(1, "555"), ended(40, Disposition.no_answer)],
        status="missed",
        manager_id=None,
    ),
    rule(
        "missed-in-the-ivr-belongs-to-the-line",
        [started(), ended(12, Disposition.cancelled)],
        status="missed",
        manager_id=None,
    ),
    rule(
        "answer-beats-a-no-answer-end-received-before-it",
        [ended(30, Disposition.no_answer), started(), offered(1, "101"), answered(6, "101")],
        status="completed",
        manager_id=ANNA,
        answered_at=at(6),
        talk_seconds=24,
        needs_outcome=True,
    ),
    rule(
        "answer-stamped-after-a-no-answer-end-still-wins",
        [started(), offered(1, "101"), ended(30, Disposition.no_answer), answered(31, "101")],
        status="completed",
        manager_id=ANNA,
        needs_outcome=True,
    ),
    rule(
        "ended-answered-without-an-answer-event",
        [started(), offered(1, "101"), ended(60, Disposition.answered, ext="101")],
        status="completed",
        manager_id=ANNA,
        answered_at=None,
        talk_seconds=None,
        wait_seconds=None,
        needs_outcome=True,
        tag_due_at=at(60) + timedelta(minutes=10),
    ),
    rule(
        "ended-answered-with-talk-time-dates-the-answer",
        [started(), ended(60, Disposition.answered, ext="101", talk_seconds=40)],
        status="completed",
        answered_at=at(20),
        wait_seconds=20,
        talk_seconds=40,
    ),
    rule(
        "outbound-in-progress",
        [dialled(), answered(10, "102")],
        status="in_progress",
        manager_id=BORIS,
    ),
    rule(
        "outbound-answered",
        DIALLED,
        status="completed",
        manager_id=BORIS,
        client_number=CLIENT,
        line_number=LINE,
        answered_at=at(10),
        talk_seconds=40,
        wait_seconds=10,
    ),
    rule(
        "outbound-never-answered-failed-not-missed",
        [dialled(), ended(30, Disposition.no_answer)],
        status="failed",
        manager_id=BORIS,
        answered_at=None,
        needs_outcome=False,
    ),
    rule(
        "outbound-answered-known-only-from-its-end",
        [dialled(), ended(70, Disposition.answered, talk_seconds=40)],
        status="completed",
        manager_id=BORIS,
        answered_at=at(30),
        wait_seconds=30,
        talk_seconds=40,
    ),
    rule(
        "internal-unanswered-is-never-missed",
        [internal(), offered(1, "102"), ended(20, Disposition.no_answer)],
        status="failed",
        client_number=None,
        line_number=None,
        needs_outcome=False,
    ),
    rule(
        "internal-answered-needs-no-outcome-even-when-outbound-does",
        [internal(), answered(3, "102"), ended(63)],
        settings={"tag_outbound": True},
        status="completed",
        needs_outcome=False,
        tag_due_at=None,
    ),
    # Durations.
    rule("talk-from-the-timestamps", ANSWERED, talk_seconds=180),
    rule(
        "talk-from-the-provider-over-the-timestamps",
        [started(), answered(6, "101"), ended(186, talk_seconds=175)],
        talk_seconds=175,
    ),
    rule("wait-of-an-answered-call-until-the-answer", ANSWERED, wait_seconds=6),
    rule(
        "wait-of-a-missed-call-until-the-end",
        [started(), offered(1, "101"), ended(25, Disposition.no_answer)],
        wait_seconds=25,
    ),
    rule(
        "wait-unknown-without-a-started-event",
        [offered(1, "101"), answered(6, "101"), ended(186)],
        status="completed",
        started_at=at(1),
        wait_seconds=None,
        talk_seconds=180,
    ),
    # The pending-outcome queue.
    rule(
        "shorter-than-min-talk-needs-no-outcome",
        [started(), answered(6, "101"), ended(35)],
        settings={"min_talk_seconds": 30},
        talk_seconds=29,
        needs_outcome=False,
        tag_due_at=None,
    ),
    rule(
        "exactly-min-talk-needs-an-outcome",
        [started(), answered(6, "101"), ended(36)],
        settings={"min_talk_seconds": 30},
        needs_outcome=True,
    ),
    rule(
        "in-progress-needs-an-outcome-before-its-length-is-known",
        [started(), answered(6, "101")],
        settings={"min_talk_seconds": 30},
        needs_outcome=True,
        tag_due_at=None,
    ),
    rule("outbound-answered-needs-no-outcome-by-default", DIALLED, needs_outcome=False, tag_due_at=None),
    rule(
        "outbound-answered-needs-an-outcome-with-tag-outbound",
        DIALLED,
        settings={"tag_outbound": True},
        needs_outcome=True,
        tag_due_at=at(50) + timedelta(minutes=10),
    ),
    rule(
        "outbound-failed-needs-no-outcome-with-tag-outbound",
        [dialled(), ended(30, Disposition.busy)],
        settings={"tag_outbound": True},
        needs_outcome=False,
    ),
    rule(
        "tag-due-at-is-the-end-plus-the-deadline",
        ANSWERED,
        settings={"tag_deadline_minutes": 25},
        tag_due_at=at(186) + timedelta(minutes=25),
    ),
    # Conflicts: the provider's sequence, then time.
    rule(
        "sequence-orders-when-every-event-has-one",
        [started(seq=1), answered(30, "102", seq=2), answered(20, "101", seq=3), ended(186, seq=4)],
        manager_id=ANNA,
        answered_at=at(30),
    ),
    rule(
        "time-orders-when-some-event-lacks-a-sequence",
        [started(seq=1), answered(30, "102", seq=2), answered(20, "101", seq=3), ended(186)],
        manager_id=BORIS,
        answered_at=at(20),
    ),
    rule(
        "a-sequence-orders-nothing-across-legs",
        [started(seq=1, leg="a"), answered(30, "102", seq=1, leg="c"), answered(20, "101", seq=2, leg="b"), ended(186)],
        manager_id=BORIS,
        answered_at=at(20),
    ),
    rule(
        "a-transfer-hands-the-call-to-the-last-who-answered-and-talk-is-the-whole-conversation",
        [started(), answered(6, "101"), answered(60, "102"), ended(40, leg="101"), ended(186, leg="102")],
        manager_id=BORIS,
        answered_at=at(6),
        ended_at=at(186),
        talk_seconds=180,
    ),
    rule(
        "an-answered-end-dated-on-receipt-gives-the-answer-less-its-talk",
        [started(), answered(100, "101"), ended(120, talk_seconds=90)],
        answered_at=at(30),
        talk_seconds=90,
    ),
    rule(
        "times-skewed-against-each-other-are-held-in-order",
        [started(10), answered(5, "101"), ended(3)],
        started_at=at(10),
        answered_at=at(10),
        ended_at=at(10),
    ),
    rule(
        "sequence-breaks-a-tie-in-time",
        [started(), answered(6, "101", seq=8), answered(6, "102", seq=7), ended(186)],
        manager_id=ANNA,
    ),
    # Numbers.
    rule(
        "national-numbers-in-the-default-region",
        [started(caller="8 916 123 45 67", line="8 (495) 111-22-33")],
        client_number=CLIENT,
        line_number=LINE,
    ),
    rule(
        "national-numbers-in-another-default-region",
        [started(caller="(415) 867-5309", line="+7 495 111 22 33")],
        settings={"default_region": "US"},
        client_number="+14158675309",
        line_number=LINE,
    ),
    rule(
        "anonymous-caller-has-no-client-number",
        [started(caller="anonymous")],
        client_number=None,
        line_number=LINE,
    ),
    # Recordings.
    rule(
        "latest-recording-wins",
        [
            *ANSWERED,
            recording(300, recording_url="https://pbx.example/b.mp3"),
            recording(200, recording_url="https://pbx.example/a.mp3"),
        ],
        recording_url="https://pbx.example/b.mp3",
    ),
    rule(
        "url-and-ref-each-keep-their-latest",
        [*ANSWERED, recording(200, recording_url="https://pbx.example/a.mp3"), recording(300, recording_ref="rec-2")],
        recording_url="https://pbx.example/a.mp3",
        recording_ref="rec-2",
    ),
]


@pytest.mark.parametrize(("events", "settings", "expected"), RULES)
def test_events_decide_the_call(events, settings, expected):
    """Each rule states only the fields it is about."""
    state = derive(events, **settings)
    assert {field: getattr(state, field) for field in expected} == expected


@st.composite
def event_sets(draw) -> list[Fact]:
    """Any mix of a call's events, with a sequence on all, some or none of them."""
    sequenced = draw(st.sampled_from(["all", "some", "none"]))
    events = []
    for _ in range(draw(st.integers(1, 8))):
        seq = {"all": st.integers(1, 3), "some": st.none() | st.integers(1, 3), "none": st.none()}[sequenced]
        events.append(
            fact(
                draw(st.sampled_from(EventKind)),
                draw(st.integers(0, 5)),  # a few seconds, so that ties in time are common
                draw(st.sampled_from([None, "101", "102", "103", "555"])),
                seq=draw(seq),
                direction=draw(st.none() | st.sampled_from(Direction)),
                from_number=draw(st.sampled_from([None, "8 916 123 45 67", "anonymous", "101"])),
                to_number=draw(st.sampled_from([None, "8 495 111 22 33", "102"])),
                disposition=draw(st.none() | st.sampled_from(Disposition)),
                talk_seconds=draw(st.none() | st.integers(0, 90)),
                recording_url=draw(st.sampled_from([None, "a.mp3", "b.mp3"])),
                recording_ref=draw(st.sampled_from([None, "rec-1", "rec-2"])),
            )
        )
    return numbered(events)


@given(data=st.data())
def test_the_state_does_not_depend_on_the_order_events_arrive_in(data):
    """A call's state is a function of the set of its events."""
    events = data.draw(event_sets())
    shuffled = data.draw(st.permutations(events))
    settings = ExplicitSettings()
    assert derive_call_state(shuffled, settings) == derive_call_state(events, settings)
