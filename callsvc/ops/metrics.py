"""Prometheus metrics, each named once."""

from prometheus_client import Counter, Gauge

webhooks = Counter("callsvc_webhooks", "Webhook deliveries received, by provider and result.", ["provider", "result"])
queue_pending = Gauge("callsvc_queue_pending", "Ended answered calls waiting for an outcome, company-wide.")
queue_overdue = Gauge("callsvc_queue_overdue", "Pending calls past their tagging deadline, company-wide.")
