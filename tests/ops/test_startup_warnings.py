"""What the service warns an operator about when it starts."""

import logging

import pytest
from fastapi.testclient import TestClient

from callsvc.app import create_app
from tests.factories import ExplicitSettings

ZADARMA_SECRET = "zadarma-secret-value"


def start(settings: ExplicitSettings) -> None:
    with TestClient(create_app(settings)):
        pass


def zadarma_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "ZADARMA" in r.getMessage()]


@pytest.fixture
def base(database_url) -> dict:
    return {"database_url": database_url, "scheduler_enabled": False}


def test_zadarma_without_an_ip_allow_list_is_warned_about_once(base, caplog):
    start(ExplicitSettings(**base, zadarma_api_secret=ZADARMA_SECRET))
    [warning] = zadarma_warnings(caplog)
    assert "CALLSVC_ZADARMA_ALLOWED_IPS" in warning
    assert ZADARMA_SECRET not in caplog.text


def test_zadarma_with_an_ip_allow_list_starts_without_a_warning(base, caplog):
    start(ExplicitSettings(**base, zadarma_api_secret=ZADARMA_SECRET, zadarma_allowed_ips="203.0.113.0/24"))
    assert zadarma_warnings(caplog) == []
