"""What each key sees of the call feed: a rep its own calls, a supervisor its team's and the unassigned."""

import pytest

from callsvc.auth.models import Role
from tests.factories import answered_call, create_key, create_manager, post_generic


@pytest.fixture
def calls_by_owner(client, session) -> dict[str, int]:
    anna = create_manager(session, name="Anna", team="north", extensions=("101",))
    create_manager(session, name="Carl", team="south", extensions=("201",))
    for call_id, extension in (("anna", "101"), ("carl", "201"), ("nobody", "999")):
        for event in answered_call(call_id, extension=extension):
            post_generic(client, event)
    return {"anna_id": anna.id}


@pytest.mark.parametrize(
    ("role", "team", "expected"),
    [
        (Role.rep, None, ["anna"]),
        (Role.supervisor, "north", ["anna", "nobody"]),
        (Role.crm, None, ["anna", "carl", "nobody"]),
    ],
)
def test_feed_holds_only_the_calls_in_the_keys_scope(client, session, calls_by_owner, role, team, expected):
    manager_id = calls_by_owner["anna_id"] if role is Role.rep else None
    headers = create_key(session, role=role, team=team, manager_id=manager_id)
    items = client.get("/v1/calls", headers=headers).json()["items"]
    assert sorted(item["provider_call_id"] for item in items) == expected
