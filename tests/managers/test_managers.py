"""/v1/managers input checks."""

import pytest

from tests.factories import create_key


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_email_without_a_domain_is_refused(client, session, method):
    headers = create_key(session)
    manager = client.post("/v1/managers", json={"name": "Anna"}, headers=headers).json()
    path = "/v1/managers" if method == "post" else f"/v1/managers/{manager['id']}"
    response = client.request(method, path, json={"name": "Boris", "email": "boris"}, headers=headers)
    assert (response.status_code, response.json()["field"]) == (422, "body.email")
