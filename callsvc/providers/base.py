"""What every provider adapter is: a pure signature check and a mapping to normalized call events."""

import dataclasses
import hashlib
import hmac
import json
import math
import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import collapse_rfc2231_value
from itertools import accumulate
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_plus, urlsplit

from sqlalchemy import BigInteger, Column, Integer, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from callsvc.calls.events import CallEvent, ParsedDelivery
from callsvc.calls.models import Call, CallEventRecord
from callsvc.errors import Invalid, Unauthorized
from callsvc.settings import Settings

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)
# For fields stored as unbounded text (a recording's URL): every event of a call is read again
# each time one arrives, so a sender must not make one call megabytes long. Signed storage
# URLs run to two thousand characters or so.
LONGEST_TEXT = 8192
# Durations land in INTEGER columns and sequence numbers in a BIGINT one; neither is ever negative.
SECONDS = range(0, 2**31)
SEQUENCE = range(0, 2**63)
# Unix times of 1970-01-01 up to the last second of 9999, the last year a datetime holds.
UNIX_SECONDS = range(0, 253_402_300_800)
MAX_JSON_DEPTH = 32
REDACTED = "REDACTED"


MAX_FORM_FIELDS = 500


class SignatureInvalid(Unauthorized):
    code = "invalid_signature"


class PayloadInvalid(Invalid):
    code = "invalid_payload"


def _too_many_fields() -> SignatureInvalid:
    return SignatureInvalid(f"the form has more than {MAX_FORM_FIELDS} fields; no PBX sends that")


def parse_form(text: str) -> dict[str, list[str]]:
    """Split form-encoded text into each name with all its values, refusing more than MAX_FORM_FIELDS."""
    # A PBX sends a few dozen fields; a body of a million is refused before it is split up. Every
    # form-encoded provider reads its form to verify it, so such a body never passes as authentic.
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise _too_many_fields() from exc


def _headers(raw: bytes) -> Message:
    return BytesParser(policy=HTTP).parsebytes(raw + b"\r\n\r\n", headersonly=True)


def parse_multipart(body: bytes, content_type: str) -> dict[str, list[str]]:
    """Split a multipart/form-data body into each name with all its values, refusing more than MAX_FORM_FIELDS.

    Only the top level is read, each part's headers alone parsed: email's full parser would follow parts
    nested in parts, and a body of a few hundred nested levels takes it seconds.
    """
    boundary = _headers(f"Content-Type: {content_type}".encode("latin-1", errors="replace")).get_boundary()
    if not boundary:
        return {}
    delimiter = b"\r\n--" + boundary.encode("latin-1", errors="replace")
    # The delimiter's leading CRLF belongs to it, so the first one needs one too.
    framed = b"\r\n" + body
    if framed.count(delimiter) > MAX_FORM_FIELDS + 1:
        raise _too_many_fields()
    form: dict[str, list[str]] = {}
    # What precedes the first delimiter is a preamble, and a delimiter followed by "--" closes the body.
    for section in framed.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        _, _, part = section.partition(b"\r\n")
        headers, _, value = (b"", b"", part[2:]) if part.startswith(b"\r\n") else part.partition(b"\r\n\r\n")
        name = _headers(headers).get_param("name", header="content-disposition")
        if name is not None:
            form.setdefault(collapse_rfc2231_value(name), []).append(value.decode(errors="replace"))
    return form


def first_values(form: Mapping[str, list[str]]) -> dict[str, str]:
    """Each name of a parsed form with its first value."""
    return {name: values[0] for name, values in form.items()}


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
        return parse_form(self.body.decode(errors="replace"))

    def fields(self) -> dict[str, str]:
        """The form-encoded body, each name with its first value."""
        return first_values(self.form())

    def query(self) -> dict[str, list[str]]:
        """The URL's query string, each name with all its values."""
        return parse_form(urlsplit(self.url).query)

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
        """Raise SignatureInvalid unless the delivery is authentic; never parse more of the body than that takes."""
        ...

    def dedupe_key(self, delivery: WebhookRequest) -> str:
        """Return the key, taken from signed content only, that is the same for every retry of this delivery."""
        ...

    def redact(self, body: bytes, settings: Settings) -> bytes:
        """Return the body byte for byte, but with any credential the provider puts in it overwritten."""
        ...

    def parse(self, delivery: WebhookRequest, settings: Settings) -> ParsedDelivery:
        """Map the delivery to call events; raise PayloadInvalid, naming the field, and nothing else for any body."""
        ...


def secrets_equal(given: str, expected: str) -> bool:
    """Compare a received secret or signature with ours in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def as_text(value: Any, field: str) -> str | None:
    """Read an optional text field; an id may come as a JSON number, never as an object, a list or a boolean."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PayloadInvalid(f"{field} is not text", field=field)


def text_at(payload: Mapping[str, Any], path: str, *, prefix: str = "") -> str | None:
    """Read an optional text field at a dotted path (`from.number`); a level that is not an object holds none."""
    value: Any = payload
    for name in path.split("."):
        value = value.get(name) if isinstance(value, Mapping) else None
    return as_text(value, prefix + path)


def required(fields: Mapping[str, Any], name: str, *, prefix: str = "") -> str:
    """Return a text field the provider's envelope always carries; PayloadInvalid names it when absent or empty."""
    value = as_text(fields.get(name), f"{prefix}{name}")
    if value is None:
        raise PayloadInvalid(f"{prefix}{name} is missing", field=f"{prefix}{name}")
    return value


_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def as_int(value: Any, field: str, *, within: range = INT32) -> int | None:
    """Read an optional whole number, sent as a number or a string, that must fall `within` a range."""
    if value is None or value == "":
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():  # False for inf and nan too
        number = int(value)
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        if len(value) > 40:  # int() refuses text past 4300 digits; 40 are past every range here already
            raise _out_of_range(field, within)
        number = int(value)
    if number is None:
        raise PayloadInvalid(f"{field} is not a whole number", field=field)
    if number not in within:
        raise _out_of_range(field, within)
    return number


def _out_of_range(field: str, within: range) -> PayloadInvalid:
    return PayloadInvalid(f"{field} is not between {within.start} and {within.stop - 1}", field=field)


def from_unix(value: Any, field: str) -> datetime:
    """Read a Unix time in seconds (UTC), sent as a number or a string, from 1970 to the year 9999."""
    seconds = as_int(value, field, within=UNIX_SECONDS)
    if seconds is None:
        raise PayloadInvalid(f"{field} is missing", field=field)
    return EARLIEST + timedelta(seconds=seconds)


def in_utc(at: datetime, field: str) -> datetime:
    """Return an aware time in UTC; PayloadInvalid when it is naive or falls outside the years 1970 to 9999."""
    if at.utcoffset() is None:
        raise PayloadInvalid(f"{field} has no UTC offset", field=field)
    try:
        # Year 1 at a positive offset, or 9999 at a negative one, is a UTC time datetime cannot hold.
        utc = at.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or utc < EARLIEST:
        raise PayloadInvalid(f"{field} is not between 1970 and 9999", field=field)
    return utc


_UNTIL_THE_CLOSING_QUOTE = rb'"[^"\\]*(?:\\.[^"\\]*)*'
# A string, or an unterminated one to the end of the body.
_STRING_OR_REST = _UNTIL_THE_CLOSING_QUOTE + rb'"?'
_STRINGS = re.compile(_STRING_OR_REST, re.S)
# Each bracket as a signed byte: +1 opening, -1 closing; everything else is dropped.
_DEPTH_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_ALL_BUT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def _nests_deeper_than(raw: bytes, limit: int) -> bool:
    steps = array("b", _STRINGS.sub(b"", raw).translate(_DEPTH_STEPS, _ALL_BUT_BRACKETS))
    # The running sum is the depth json.loads would recurse to; summed in C, a megabyte takes milliseconds.
    return max(accumulate(steps), default=0) > limit


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def read_json(raw: bytes, field: str) -> dict[str, Any]:
    """Parse a JSON object a provider sent; anything else, however hostile, is PayloadInvalid naming `field`."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise PayloadInvalid(f"{field} is not UTF-8 text", field=field) from exc
    # json.loads recurses once per level: a body nested deep enough would exhaust the stack.
    if _nests_deeper_than(raw, MAX_JSON_DEPTH):
        raise PayloadInvalid(f"{field} nests deeper than {MAX_JSON_DEPTH} levels", field=field)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except ValueError as exc:
        raise PayloadInvalid(f"{field} is not JSON: {exc}", field=field) from exc
    if not isinstance(value, dict):
        raise PayloadInvalid(f"{field} is not a JSON object", field=field)
    return value


_SPACE = rb"[ \t\n\r]*"
_STRING = _UNTIL_THE_CLOSING_QUOTE + rb'"'
_OBJECT_START = re.compile(_SPACE + rb"\{(?:" + _SPACE + rb"(\}))?")
# A member of an object: its key and its value, whole if it is a string or a bare word (a number, true,
# false, null: the full parse judges those), or only its opening bracket if it is an array or an object.
_MEMBER = re.compile(
    _SPACE + rb"(?P<key>" + _STRING + rb")" + _SPACE + rb":" + _SPACE
    + rb"(?P<value>(?P<nested>[\[{])|" + _STRING + rb'|[^ \t\n\r\[\]{}:,"]+)',
    re.S,
)  # fmt: skip
# Inside an array or an object: a string, skipped whole, or a run of opening or of closing brackets.
_NESTING = re.compile(rb"(?:" + _STRING_OR_REST + rb")|(?P<open>[\[{]+)|(?P<close>[\]}]+)", re.S)
_SEPARATOR = re.compile(_SPACE + rb"([,}])")
_TRAILING_SPACE = re.compile(_SPACE)


def _nested_end(raw: bytes, start: int) -> int:
    """Where the array or object opening at `start` ends; nothing inside it is built."""
    depth = 0
    for match in _NESTING.finditer(raw, start):
        run = match.end() - match.start()
        if match.lastgroup == "open":
            depth += run
        elif match.lastgroup == "close":
            if run >= depth:
                return match.start() + depth
            depth -= run
    raise ValueError("unbalanced JSON")


def _is_key(raw: bytes, name: str) -> bool:
    if b"\\" not in raw:
        return raw[1:-1] == name.encode()
    try:
        return json.loads(raw.decode()) == name
    except ValueError:
        return False


def top_level_values(raw: bytes, name: str) -> list[slice] | None:
    """Find the values of a JSON object's top-level members called `name` without parsing the rest.

    Returns their byte spans (nested members of that name do not count), or None when the body is
    not a JSON object. It builds no nested value, so a body of any depth costs one linear pass.
    """
    opening = _OBJECT_START.match(raw)
    if opening is None:
        return None
    spans: list[slice] = []
    position, closed = opening.end(), opening.group(1) is not None
    while not closed:
        member = _MEMBER.match(raw, position)
        if member is None:
            return None
        start = member.start("value")
        try:
            end = _nested_end(raw, start) if member.group("nested") else member.end()
        except ValueError:
            return None
        if _is_key(member.group("key"), name):
            spans.append(slice(start, end))
        separator = _SEPARATOR.match(raw, end)
        if separator is None:
            return None
        position, closed = separator.end(), separator.group(1) == b"}"
    return spans if _TRAILING_SPACE.fullmatch(raw, position) else None


def redact_form_field(body: bytes, name: str) -> bytes:
    """Overwrite every value of one form field with REDACTED, leaving the rest of the body byte for byte."""
    pairs = body.split(b"&")
    for index, pair in enumerate(pairs):
        key, separator, _ = pair.partition(b"=")
        # Compared as WebhookRequest.form() decodes names, so that an encoded name is caught too.
        if separator and unquote_plus(key.decode(errors="replace")) == name:
            pairs[index] = key + b"=" + REDACTED.encode()
    return b"&".join(pairs)


def _stored_as(column: Column[Any]) -> TypeEngine[Any]:
    # sqlmodel's AutoString and our UTCDateTime wrap the type the database holds.
    return column.type.impl if isinstance(column.type, TypeDecorator) else column.type


# The type each event field is stored as: in the call's row for the call id, in the event's row for the rest.
_COLUMNS = dict(CallEventRecord.__table__.c.items(), provider_call_id=Call.__table__.c.provider_call_id)
_STORED_AS = {field.name: _stored_as(_COLUMNS[field.name]) for field in dataclasses.fields(CallEvent)}
# NUL is refused by PostgreSQL text, and a lone surrogate (from a JSON \ud800 escape) by every UTF-8 encoder.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: Any, field: str, length: int | None) -> None:
    if not isinstance(value, str):
        raise PayloadInvalid(f"{field} is not text", field=field)
    if _UNSTORABLE.search(value):
        raise PayloadInvalid(f"{field} holds a NUL or an unpaired surrogate, which text cannot store", field=field)
    if length is not None and len(value) > length:
        raise PayloadInvalid(f"{field} is longer than {length} characters", field=field)


def check_events(parsed: ParsedDelivery) -> None:
    """Raise PayloadInvalid unless every event fits the columns it is stored in.

    Text holds no NUL or lone surrogate and fits its length, whole numbers fit their integer type,
    times are aware and from 1970 to 9999: the last word on a parsed delivery before the database.
    """
    _check_text(parsed.type, "type", None)
    for event in parsed.events:
        for field, stored_as in _STORED_AS.items():
            value = getattr(event, field)
            if value is None:
                continue
            if isinstance(stored_as, String):
                _check_text(value, field, stored_as.length or LONGEST_TEXT)
            elif isinstance(stored_as, Integer):
                limit = INT64 if isinstance(stored_as, BigInteger) else INT32
                if isinstance(value, bool) or not isinstance(value, int) or value not in limit:
                    raise PayloadInvalid(f"{field} is not a whole number the database holds", field=field)
            # What is left is stored as a time.
            elif not isinstance(value, datetime):
                raise PayloadInvalid(f"{field} is not a time", field=field)
            else:
                in_utc(value, field)
