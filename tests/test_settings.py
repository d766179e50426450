"""Tests build their settings from explicit values; the service reads CALLSVC_* from its environment."""

import pytest

from callsvc.settings import Settings
from tests.factories import ExplicitSettings

SHELL = [
    pytest.param("CALLSVC_TWILIO_AUTH_TOKEN", "twilio_auth_token", "from-the-shell", None, id="twilio-token"),
    pytest.param("CALLSVC_TAG_DEADLINE_MINUTES", "tag_deadline_minutes", 99, 10, id="tag-deadline"),
]


@pytest.mark.parametrize(("variable", "field", "exported", "default"), SHELL)
def test_the_service_reads_an_exported_variable_that_test_settings_ignore(
    monkeypatch, variable, field, exported, default
):
    monkeypatch.setenv(variable, str(exported))
    assert getattr(Settings(), field) == exported
    assert getattr(ExplicitSettings(), field) == default


@pytest.mark.parametrize(("variable", "field", "exported", "default"), SHELL)
def test_the_settings_fixture_ignores_an_exported_variable(monkeypatch, request, variable, field, exported, default):
    monkeypatch.setenv(variable, str(exported))
    assert getattr(request.getfixturevalue("settings"), field) == default


def test_explicit_values_still_count(monkeypatch):
    monkeypatch.setenv("CALLSVC_TAG_DEADLINE_MINUTES", "99")
    assert ExplicitSettings(tag_deadline_minutes=5).tag_deadline_minutes == 5
