"""Correctly signed hostile bodies through the running app: each is answered 200 or 422 and kept, never 5xx."""

from urllib.parse import urlsplit

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from callsvc.ingestion.models import ProviderEvent
from callsvc.providers import registry
from callsvc.providers.base import WebhookRequest
from callsvc.providers.zadarma import SIGNED_FIELDS
from tests.factories import GENERIC_SECRET
from tests.providers import test_hostile_bodies as hostile
from tests.providers.test_aircall import TOKEN as AIRCALL_TOKEN
from tests.providers.test_mango import API_KEY as MANGO_KEY
from tests.providers.test_mango import SALT as MANGO_SALT
from tests.providers.test_twilio import TOKEN as TWILIO_TOKEN
from tests.providers.test_zadarma import SECRET as ZADARMA_SECRET

THROUGH_THE_APP = hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def seeded_or_scratch(cases, values, scratch, *, keep=frozenset()):
    """A recorded payload of `cases` with hostile changes, or a body built from scratch."""
    return st.sampled_from(cases.SEEDS).flatmap(lambda seed: hostile.mutated(seed, values, keep=keep)) | scratch


# Aliased in lower case so that pytest does not collect the adapter-level test classes here again.
generic, aircall, mango = hostile.TestGeneric, hostile.TestAircall, hostile.TestMango
twilio, zadarma = hostile.TestTwilio, hostile.TestZadarma
zadarma_from_scratch = st.builds(
    lambda event, fields: {"event": event, **fields},
    st.sampled_from(sorted(SIGNED_FIELDS)),
    hostile.with_fields(zadarma.FIELDS, hostile.form_value),
)
mango_mutated = st.sampled_from(mango.SEEDS).flatmap(
    lambda seed: st.tuples(st.just(seed["event"]), hostile.mutated(seed["json"], mango.VALUES))
)
mango_from_scratch = st.tuples(mango.TYPES, hostile.with_fields(mango.FIELDS, mango.VALUES))
HOSTILE_REQUESTS = {
    "generic": st.builds(
        hostile.generic_request,
        seeded_or_scratch(generic, generic.VALUES, hostile.with_fields(generic.FIELDS, generic.VALUES)),
    ),
    "aircall": st.builds(
        hostile.aircall_request, seeded_or_scratch(aircall, aircall.VALUES, aircall.SCRATCH, keep=frozenset({"token"}))
    ),
    "mango": (mango_mutated | mango_from_scratch).map(lambda case: hostile.mango_request(*case)),
    "twilio": st.builds(
        hostile.twilio_request,
        seeded_or_scratch(
            twilio, hostile.form_value | twilio.STATUSES, hostile.with_fields(twilio.FIELDS, hostile.form_value)
        ),
    ),
    "zadarma": st.builds(
        hostile.zadarma_request,
        seeded_or_scratch(zadarma, hostile.form_value, zadarma_from_scratch, keep=frozenset({"event"})),
    ),
}


@pytest.fixture
def settings_overrides() -> dict:
    return {
        "generic_secret": GENERIC_SECRET,
        "twilio_auth_token": TWILIO_TOKEN,
        "public_url": "https://calls.example.com",
        "zadarma_api_secret": ZADARMA_SECRET,
        "timezone": "Europe/Moscow",
        "mango_api_key": MANGO_KEY,
        "mango_api_salt": MANGO_SALT,
        "aircall_token": AIRCALL_TOKEN,
    }


def kept_count(session) -> int:
    return session.exec(select(func.count()).select_from(ProviderEvent)).one()


@pytest.mark.parametrize("provider", sorted(HOSTILE_REQUESTS))
def test_an_authentic_hostile_delivery_is_kept_and_never_answered_5xx(client, session, settings, provider):
    adapter = registry.get_adapter(provider, settings)

    @THROUGH_THE_APP
    @given(HOSTILE_REQUESTS[provider])
    def deliver(webhook: WebhookRequest):
        before = kept_count(session)
        response = client.post(urlsplit(webhook.url).path, content=webhook.body, headers=dict(webhook.headers))
        assert response.status_code in (200, 422), response.text
        hypothesis.event(f"{response.status_code} {response.json().get('status') or response.json().get('field')}")
        if kept_count(session) == before:
            # The same body came twice: answered as the first time, kept once.
            assert response.status_code == 422 or response.json() == {"status": "duplicate"}
            return
        row = session.exec(select(ProviderEvent).order_by(ProviderEvent.id.desc()).limit(1)).one()
        assert row.body == adapter.redact(webhook.body, settings)
        assert row.status in (("rejected",) if response.status_code == 422 else ("applied", "unprocessed"))

    deliver()
