"""callsvc's own JSON format, signed the Standard Webhooks way (see README, "Generic webhooks")."""

import base64
import hashlib
import hmac
import re
import time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from callsvc.calls.events import CallEvent, Direction, Disposition, EventKind, ParsedDelivery
from callsvc.errors import field_path
from callsvc.providers.base import PayloadInvalid, SignatureInvalid, WebhookRequest, read_json, secrets_equal
from callsvc.settings import Settings

KIND_BY_TYPE = {
    "call.started": EventKind.started,
    "call.offered": EventKind.offered,
    "call.answered": EventKind.answered,
    "call.ended": EventKind.ended,
    "call.recording": EventKind.recording,
}
# How far webhook-timestamp may be from now, as the Standard Webhooks libraries allow.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
# ASCII digits only (str.isdigit takes "²", which int() refuses), and few enough to become a float.
UNIX_SECONDS = re.compile(r"[0-9]{1,15}")
EXTENSION_REQUIRED = {"call.offered": "the extension rung", "call.answered": "who answered"}


class GenericEvent(BaseModel):
    """One event of the generic format."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["call.started", "call.offered", "call.answered", "call.ended", "call.recording"]
    call_id: str = Field(min_length=1, max_length=200)
    direction: Direction | None = None
    from_number: str | None = Field(default=None, alias="from", max_length=200)
    to_number: str | None = Field(default=None, alias="to", max_length=200)
    extension: str | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: AwareDatetime
    disposition: Disposition | None = None
    recording_url: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fields_each_type_needs(self) -> "GenericEvent":
        # Raised as PayloadInvalid (not ValueError) so that the answer names the missing field.
        required = {
            "direction": self.type == "call.started",
            "extension": self.type in EXTENSION_REQUIRED
            or (self.type == "call.started" and self.direction not in (None, Direction.inbound)),
            "disposition": self.type == "call.ended",
            "recording_url": self.type == "call.recording",
        }
        for field, needed in required.items():
            if needed and getattr(self, field) is None:
                meaning = f" ({EXTENSION_REQUIRED.get(self.type, 'who dials')})" if field == "extension" else ""
                raise PayloadInvalid(f"{field}{meaning} is required on {self.type}", field=field)
        return self

    def to_call_event(self) -> CallEvent:
        return CallEvent(
            kind=KIND_BY_TYPE[self.type],
            provider_call_id=self.call_id,
            occurred_at=self.occurred_at,
            direction=self.direction,
            from_number=self.from_number,
            to_number=self.to_number,
            identity=self.extension,
            disposition=self.disposition,
            recording_url=self.recording_url,
        )


class GenericAdapter:
    """Any PBX that can POST JSON: one event per request."""

    name = "generic"

    def is_configured(self, settings: Settings) -> bool:
        return bool(settings.generic_secret)

    def verify(self, delivery: WebhookRequest, settings: Settings) -> None:
        # Checked here rather than with the standardwebhooks package, which decodes the body as UTF-8
        # first: the signature is over the raw bytes, and an authentic body that is not UTF-8 must be kept.
        assert settings.generic_secret
        headers = delivery.headers
        msg_id, timestamp, signatures = (headers.get(f"webhook-{name}") for name in ("id", "timestamp", "signature"))
        if not (msg_id and timestamp and signatures):
            raise SignatureInvalid("webhook-id, webhook-timestamp and webhook-signature are all required")
        if not UNIX_SECONDS.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
            raise SignatureInvalid("webhook-timestamp is not within 5 minutes of now (unix seconds)")
        key = base64.b64decode(settings.generic_secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + delivery.body, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(mac).decode()
        if not any(secrets_equal(given, expected) for given in signatures.split()):
            raise SignatureInvalid("no webhook-signature matches the body")

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        # Signed with the body: a replay cannot change it without breaking the signature.
        return delivery.headers["webhook-id"]

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """The secret signs the body and never travels in it: nothing to overwrite."""
        return body

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        try:
            event = GenericEvent.model_validate(read_json(delivery.body, "body"))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = field_path(error["loc"]) or None
            message = error["msg"].removeprefix("Value error, ")
            raise PayloadInvalid(f"{field}: {message}" if field else message, field=field) from exc
        return ParsedDelivery(type=event.type, events=[event.to_call_event()])
