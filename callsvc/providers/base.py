"""What every provider adapter is: a pure signature check and a mapping to normalized call events."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs

from callsvc.calls.events import ParsedDelivery
from callsvc.errors import Invalid, Unauthorized
from callsvc.settings import Settings


class SignatureInvalid(Unauthorized):
    code = "invalid_signature"


class PayloadInvalid(Invalid):
    code = "invalid_payload"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One webhook request as it reached us: what adapters verify and parse."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    client_host: str | None = None

    def form(self) -> dict[str, list[str]]:
        """The form-encoded body, each name with all its values."""
        return parse_qs(self.body.decode(), keep_blank_values=True)


class ProviderAdapter(Protocol):
    """A PBX's webhooks: no database, no HTTP, only the request in and events out."""

    name: str

    def is_configured(self, settings: Settings) -> bool:
        """Tell whether the secret this provider is verified with is set."""
        ...

    def verify(self, delivery: Delivery, settings: Settings) -> None:
        """Raise SignatureInvalid unless the delivery is authentic."""
        ...

    def dedupe_key(self, delivery: Delivery) -> str:
        """Return the key that is the same for every retry of this delivery."""
        ...

    def parse(self, delivery: Delivery, settings: Settings) -> ParsedDelivery:
        """Map the delivery to call events; raise PayloadInvalid for a body that is not the provider's envelope."""
        ...
