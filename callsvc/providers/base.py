"""What every provider adapter is: a pure signature check and a mapping to normalized call events."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from callsvc.calls.events import ParsedDelivery
from callsvc.errors import Invalid, Unauthorized
from callsvc.settings import Settings


class SignatureInvalid(Unauthorized):
    code = "invalid_signature"


class PayloadInvalid(Invalid):
    code = "invalid_payload"


@dataclass(frozen=True, kw_only=True)
class WebhookRequest:
    """One webhook request as it reached us: what adapters verify and parse."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    client_host: str | None = None

    def form(self) -> dict[str, list[str]]:
        """The form-encoded body, each name with all its values."""
        return parse_qs(self.body.decode(errors="replace"), keep_blank_values=True)

    def fields(self) -> dict[str, str]:
        """The form-encoded body, each name with its first value."""
        return {name: values[0] for name, values in self.form().items()}

    def body_digest(self) -> str:
        """The SHA-256 of the raw body: the dedupe key of providers that send no delivery id."""
        return hashlib.sha256(self.body).hexdigest()


class ProviderAdapter(Protocol):
    """A PBX's webhooks: no database, no HTTP, only the request in and events out."""

    name: str

    def is_configured(self, settings: Settings) -> bool:
        """Tell whether the secret this provider is verified with is set."""
        ...

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        """Raise SignatureInvalid unless the delivery is authentic."""
        ...

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        """Return the key that is the same for every retry of this delivery."""
        ...

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        """Map the delivery to call events; raise PayloadInvalid for a body that is not the provider's envelope."""
        ...


def secrets_equal(given: str, expected: str) -> bool:
    """Compare a received secret or signature with ours in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def required(fields: Mapping[str, Any], name: str, *, prefix: str = "") -> Any:
    """Return a field the provider's envelope always carries; PayloadInvalid names it when absent or empty."""
    value = fields.get(name)
    if value is None or value == "":
        raise PayloadInvalid(f"{prefix}{name} is missing", field=f"{prefix}{name}")
    return value


def as_int(value: Any, field: str) -> int | None:
    """Read an optional whole number a provider may send as a string."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PayloadInvalid(f"{field} is not a whole number", field=field) from exc


def from_unix(value: Any, field: str) -> datetime:
    """Read a Unix time in seconds (UTC), sent as a number or a string."""
    seconds = as_int(value, field)
    if seconds is None:
        raise PayloadInvalid(f"{field} is missing", field=field)
    return datetime.fromtimestamp(seconds, UTC)
