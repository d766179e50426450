"""Phone numbers in E.164, parsed by Google's libphonenumber rules."""

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumber, ValidationResult

# Digits, one leading '+', and the punctuation numbers are written with. Anything else (a word such as
# "anonymous", a SIP URI, a "client:" identity) is not a phone number.
WRITTEN_NUMBER = re.compile(r"\+?[0-9 \t().\-]*")
# Fewer digits than this is an extension or a short code, never a client's number.
FEWEST_DIGITS = 6
# E.164 allows at most 15 digits; some of libphonenumber's "possible" lengths are longer.
MOST_DIGITS = 15
# What Twilio puts in From when the caller's number is withheld: ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN
# and UNAVAILABLE spelt on a telephone keypad. Some of them parse as real numbers in other countries.
WITHHELD = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})


def _parsed(text: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _possible(number: PhoneNumber) -> bool:
    # A local-only number (no area code) cannot be written in E.164.
    return phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE


def _read(text: str, region: str) -> PhoneNumber | None:
    digits = re.sub(r"[^0-9]", "", text)
    if len(digits) < FEWEST_DIGITS:
        return None
    if text.startswith("+") or digits.startswith("00"):
        # The country code is written: take it, valid or merely of a possible length (a range too new for
        # libphonenumber's tables is still the caller's number).
        written = digits if text.startswith("+") else digits[2:]
        number = _parsed("+" + written, None)
        return number if number is not None and _possible(number) else None
    national = _parsed(digits, region)
    if national is not None and phonenumbers.is_valid_number(national):
        return national
    # Some PBXs leave the '+' off an international number. Only a valid one is taken that way: a merely
    # possible one would turn any national number that fails the first test into another country's.
    international = _parsed("+" + digits, None)
    if international is not None and phonenumbers.is_valid_number(international):
        return international
    if (
        national is not None
        and national.country_code == phonenumbers.country_code_for_region(region)
        and _possible(national)
    ):
        return national
    return None


# Every event of a call re-derives its numbers from the same few strings.
@lru_cache(maxsize=4096)
def to_e164(raw: str | None, region: str) -> str | None:
    """Return the number in E.164, or None when it is withheld, an extension, not a number or unparseable.

    With a '+' (or a leading 00) the number is read in the country it names. Without one it is, in turn:
    a valid number in the national format of `region`; a valid international number missing its '+';
    a number of possible length in `region`; else None.
    """
    if not raw:
        return None
    text = raw.strip()
    if not WRITTEN_NUMBER.fullmatch(text):
        return None
    number = _read(text, region)
    if number is None or number.national_number == 0:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 in WITHHELD or len(e164) - 1 > MOST_DIGITS:
        return None
    # A run of national prefixes after the country code ("+27 0000001") loses one per reading; a
    # number that does not read back as itself is no number.
    again = _read(e164, region)
    return (
        e164
        if again is not None and phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == e164
        else None
    )


def masked(number: str | None) -> str:
    """Hide all but the last three digits, for logs."""
    if not number:
        return "-"
    return "…" + number[-3:]
