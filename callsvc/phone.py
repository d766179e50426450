"""Phone numbers in E.164, parsed by Google's libphonenumber rules."""

import phonenumbers


def to_e164(raw: str | None, region: str) -> str | None:
    """Return the number in E.164, or None when it is anonymous, an extension or unparseable."""
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def international(raw: str | None) -> str | None:
    """Add the '+' that some PBXs leave off an international number, when the result is a possible number."""
    if raw and raw.isdigit() and to_e164("+" + raw, "ZZ"):
        return "+" + raw
    return raw


def masked(number: str | None) -> str:
    """Hide all but the last three digits, for logs."""
    if not number:
        return "-"
    return "…" + number[-3:]
