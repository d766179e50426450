"""Prometheus metrics, each named once."""

from prometheus_client import Counter

webhooks = Counter("callsvc_webhooks", "Webhook deliveries received, by provider and result.", ["provider", "result"])
