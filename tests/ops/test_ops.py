"""Health, readiness and metrics, as a load balancer and Prometheus see them."""

from fastapi.testclient import TestClient

from callsvc.app import create_app
from callsvc.ops import router
from tests.factories import answered_call, create_manager, post_generic


def test_healthz_answers_while_alive(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_answers_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_metrics_count_webhooks_by_provider_and_result(client):
    def accepted_count():
        prefix = 'callsvc_webhooks_total{provider="generic",result="accepted"}'
        lines = [row for row in client.get("/metrics").text.splitlines() if row.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = accepted_count()
    post_generic(client, answered_call("metrics-1")[0])
    assert accepted_count() == before + 1


def test_errors_have_detail_and_code_even_for_unknown_routes(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}


def test_metrics_report_the_company_queue(client, session, clock):
    create_manager(session, extensions=("101",))
    for event in answered_call("metrics-q", extension="101"):
        post_generic(client, event)
    clock.advance(minutes=30)
    text = client.get("/metrics").text
    assert "callsvc_queue_pending 1.0" in text
    assert "callsvc_queue_overdue 1.0" in text


def test_an_unexpected_failure_still_answers_detail_and_code(settings, clock, session_factory, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(router.outcomes_service, "count_pending", broken)
    app = create_app(settings, clock=clock)
    app.state.session_factory = session_factory
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/metrics")
    assert response.status_code == 500
    assert response.json() == {"detail": "the server failed to answer this request", "code": "internal_error"}
