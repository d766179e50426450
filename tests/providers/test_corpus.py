"""Calls built from public payload shapes (tests/payloads/corpus, each citing its sources), replayed through the
running app in the provider's order and shuffled with retries: every order stores the same call."""

import json
from datetime import datetime

import pytest

from tests.factories import PAYLOADS, SEEDS, SEEN, calls_in_db, create_manager, scrambled
from tests.providers import test_aircall, test_mango, test_twilio, test_zadarma

# Each provider's delivery, signed or authenticated the provider's way.
SENDERS = {
    "twilio": test_twilio.post,
    "zadarma": test_zadarma.post,
    "mango": test_mango.post,
    "aircall": test_aircall.post,
}

CORPUS = {provider: json.loads((PAYLOADS / "corpus" / f"{provider}.json").read_text()) for provider in SENDERS}
# What each PBX calls Anna and Boris: an extension, a user id, a Voice SDK identity, the phone a call is placed from.
IDENTITIES = {
    "twilio": {"anna": ("client:anna", "+14155550150"), "boris": ("client:boris",)},
    "zadarma": {"anna": ("101",), "boris": ("102",)},
    "mango": {"anna": ("101",), "boris": ("102",)},
    "aircall": {"anna": ("501",), "boris": ("502",)},
}
# Where each provider's call key opens in a delivery's JSON: each replay is made a call of its own there.
CALL_KEYS = {"twilio": '"CA', "zadarma": '"pbx_call_id": "', "mango": '"entry_id": "', "aircall": '"id": 8124'}
CASES = [(provider, name) for provider, corpus in CORPUS.items() for name in corpus["scenarios"]]


@pytest.fixture
def settings_overrides() -> dict:
    return {
        "twilio_auth_token": test_twilio.TOKEN,
        "public_url": test_twilio.PUBLIC_URL,
        "zadarma_api_secret": test_zadarma.SECRET,
        "mango_api_key": test_mango.API_KEY,
        "mango_api_salt": test_mango.SALT,
        "aircall_token": test_aircall.TOKEN,
        "timezone": "Europe/Moscow",
    }


def _orders(deliveries: list) -> list[list]:
    """The provider's own order, its reverse, and shuffles in which some deliveries come twice."""
    return [deliveries, deliveries[::-1], *(scrambled(deliveries, seed) for seed in SEEDS)]


def _as_call(provider: str, deliveries: list, number: int) -> list:
    """The deliveries of the same call under another call key."""
    key = CALL_KEYS[provider]
    return json.loads(json.dumps(deliveries).replace(key, f"{key}{number}"))


def _expected(expect: dict, managers: dict[str, int]) -> dict:
    """What the scenario says the stored call holds, as the call's columns hold it."""
    times = {name: expect[name] and datetime.fromisoformat(expect[name]) for name in expect if name.endswith("_at")}
    values = {**expect, **times, "manager_id": managers.get(expect["manager"])}
    return {field: value for field, value in values.items() if field in SEEN}


def test_every_provider_has_the_scenarios_call_semantics_names():
    named = {"answered", "ring_all_missed", "answered_after_two_offers", "transferred"}
    named |= {"outbound_answered", "outbound_unanswered", "anonymous_caller"}
    for corpus in CORPUS.values():
        assert named < set(corpus["scenarios"]), "and one quirk of the provider besides"
        assert len(corpus["sources"]) >= 3
        assert all(scenario["source"] for scenario in corpus["scenarios"].values())


@pytest.mark.parametrize(("provider", "name"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_every_order_stores_the_same_call(client, session, clock, provider, name):
    scenario = CORPUS[provider]["scenarios"][name]
    managers = {
        who: create_manager(session, name=who, provider=provider, extensions=identities).id
        for who, identities in IDENTITIES[provider].items()
    }
    expected = _expected(scenario["expect"], managers)
    if "received_at" in scenario:
        clock.current = datetime.fromisoformat(scenario["received_at"])
    stored = []
    for number, order in enumerate(_orders(scenario["deliveries"]), start=1):
        for delivery in _as_call(provider, order, number):
            assert SENDERS[provider](client, delivery).status_code == 200
        calls = sorted(calls_in_db(session), key=lambda call: call.id)
        assert len(calls) == number
        stored.append({field: getattr(calls[-1], field) for field in SEEN})
    in_provider_order = stored[0]
    assert {field: in_provider_order[field] for field in expected} == expected
    assert stored[1:] == [in_provider_order] * (len(stored) - 1)
    times = [in_provider_order[f"{name}_at"] for name in ("started", "answered", "ended")]
    known = [time for time in times if time is not None]
    assert known == sorted(known)
