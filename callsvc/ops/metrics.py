"""Prometheus metrics, each named once."""

from prometheus_client import Counter, Gauge

webhooks = Counter("callsvc_webhooks", "Webhook deliveries received, by provider and result.", ["provider", "result"])
webhook_retries = Counter(
    "callsvc_webhook_retries", "Deliveries applied again after a transient failure, by result.", ["result"]
)
events_unprocessed = Gauge(
    "callsvc_events_unprocessed",
    "Kept deliveries not applied yet, by whether the retry job will try them again.",
    ["retrying"],
)
call_transitions = Counter(
    "callsvc_call_transitions",
    "Calls that became answered or missed, or were missed until a late answer came, as events arrived.",
    ["transition"],
)
queue_pending = Gauge("callsvc_queue_pending", "Ended answered calls waiting for an outcome, company-wide.")
queue_overdue = Gauge("callsvc_queue_overdue", "Pending calls past their tagging deadline, company-wide.")
