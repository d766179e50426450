"""How a number from a PBX becomes E.164, or None."""

import re

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callsvc.phone import WITHHELD, to_e164

REGIONS = ["RU", "US", "GB", "DE", "UA", "KZ"]
E164 = re.compile(r"\+[1-9][0-9]{5,14}")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # National formats of the default region, however punctuated.
        ("84951112233", "RU", "+74951112233"),  # not Vietnam's +84 95 111 2233
        ("88001234567", "RU", "+78001234567"),
        ("8 (495) 111-22-33", "RU", "+74951112233"),
        ("8-800-123-45-67", "RU", "+78001234567"),
        ("74951112233", "RU", "+74951112233"),
        ("+7 495 111-22-33", "RU", "+74951112233"),
        ("4951112233", "RU", "+74951112233"),
        (" 8 916 123 45 67 ", "RU", "+79161234567"),
        ("(415) 867-5309", "US", "+14158675309"),
        # International numbers whose '+' the PBX left off, as Zadarma and Mango send them.
        ("380441234567", "RU", "+380441234567"),
        ("380931775529", "RU", "+380931775529"),
        ("14155550100", "RU", "+14155550100"),
        ("00380441234567", "RU", "+380441234567"),
        ("810 380 44 123 4567", "RU", "+380441234567"),  # Russia's own international prefix
        # The same digits mean what the default region dials them as.
        ("84951112233", "US", "+84951112233"),
        # A written country code is taken as written.
        ("+84951112233", "RU", "+84951112233"),
        ("+380 44 123 4567", "US", "+380441234567"),
        # A number of possible length in the default region, in a range libphonenumber does not know.
        ("82001234567", "RU", "+72001234567"),
        # Withheld and unknown callers.
        (None, "RU", None),
        ("", "RU", None),
        ("   ", "RU", None),
        ("+", "RU", None),
        ("0", "RU", None),
        ("00000", "RU", None),
        ("0000000000", "RU", None),
        ("anonymous", "RU", None),
        ("Anonymous", "RU", None),
        ("UNAVAILABLE", "RU", None),
        ("UNKNOWN", "RU", None),
        ("Unknown", "RU", None),
        ("Restricted", "RU", None),
        ("private", "RU", None),
        ("+266696687", "RU", None),
        ("+7378742833", "RU", None),
        ("+2562533", "RU", None),
        ("+8656696", "RU", None),
        ("+86282452253", "RU", None),
        ("+86 28 245 2253", "US", None),
        # Not phone numbers: SIP URIs, Twilio Client identities, extensions, a number without its area code.
        ("sip:anna@vpbx.mangosip.ru", "RU", None),
        ("client:anna", "RU", None),
        ("101", "RU", None),
        ("12345", "RU", None),
        ("1112233", "RU", None),
        # A '+' before a national number names no country.
        ("+89161234567", "RU", None),
        ("8 916 123 45 67 ext. 5", "RU", None),
    ],
)
def test_numbers(raw, region, expected):
    assert to_e164(raw, region) == expected


def test_twilio_withheld_numbers_spell_the_words_on_a_keypad():
    keys = {"ABC": "2", "DEF": "3", "GHI": "4", "JKL": "5", "MNO": "6", "PQRS": "7", "TUV": "8", "WXYZ": "9"}
    keypad = {letter: digit for letters, digit in keys.items() for letter in letters}
    words = ["ANONYMOUS", "RESTRICTED", "BLOCKED", "UNKNOWN", "UNAVAILABLE"]
    assert {"+" + "".join(keypad[letter] for letter in word) for word in words} == WITHHELD


# Real RU numbers: Moscow, Saint Petersburg, Yekaterinburg, Novosibirsk, Krasnodar, toll-free and mobile ranges.
RU_NUMBERS = st.builds(
    lambda code, rest: code + rest,
    st.sampled_from(["495", "499", "812", "343", "383", "861", "800", "903", "916", "926", "977", "999"]),
    st.from_regex(r"[1-9][0-9]{6}", fullmatch=True),
).filter(lambda national: phonenumbers.is_valid_number(phonenumbers.parse("+7" + national)))


def _written(national: str, prefix: str, style: str) -> str:
    code, a, b, c = national[:3], national[3:6], national[6:8], national[8:]
    body = {
        "spaces": f"{code} {a} {b} {c}",
        "brackets": f"({code}) {a}-{b}-{c}",
        "dashes": f"{code}-{a}-{b}-{c}",
        "dots": f"{code}.{a}.{b}.{c}",
        "plain": national,
        "grouped": f"{code} {a}{b}{c}",
    }[style]
    return prefix + body


@given(
    national=RU_NUMBERS,
    prefix=st.sampled_from(["8", "8 ", "7", "7 ", "+7", "+7 ", ""]),
    style=st.sampled_from(["spaces", "brackets", "dashes", "dots", "plain", "grouped"]),
    padding=st.sampled_from(["", " ", "\t"]),
)
def test_national_ru_numbers_in_any_punctuation_are_one_number(national, prefix, style, padding):
    assert to_e164(padding + _written(national, prefix, style) + padding, "RU") == "+7" + national


def _example_numbers() -> list[str]:
    numbers = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                numbers.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(numbers)


VALID_NUMBERS = st.sampled_from(_example_numbers())


@given(number=VALID_NUMBERS, region=st.sampled_from(REGIONS), spaced=st.booleans())
def test_valid_international_numbers_with_a_plus_or_00_are_themselves(number, region, spaced):
    parsed = phonenumbers.parse(number)
    written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL) if spaced else number
    assert to_e164(written, region) == number
    assert to_e164("00" + number[1:], region) == number


@given(number=VALID_NUMBERS, region=st.sampled_from(REGIONS))
def test_valid_international_numbers_without_a_plus_are_themselves_unless_national(number, region):
    """Digits that are also a valid national number of the default region are that number, by design."""
    result = to_e164(number[1:], region)
    if result != number:
        national = phonenumbers.parse(number[1:], region)
        assert phonenumbers.is_valid_number(national)
        assert result == phonenumbers.format_number(national, phonenumbers.PhoneNumberFormat.E164)


def _any_case(word: str):
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(word, upper, strict=True))
    )


SENTINELS = (
    st.sampled_from(["anonymous", "unavailable", "unknown", "restricted", "private", "blocked", "withheld"]).flatmap(
        _any_case
    )
    | st.sampled_from(sorted(WITHHELD))
    | st.sampled_from(["", "+", "0", "00000", "sip:anna@vpbx.mangosip.ru", "sip:101@pbx.example", "client:anna"])
    | st.from_regex(r"[0-9]{1,5}", fullmatch=True)  # extensions and short codes
)


@given(raw=SENTINELS, region=st.sampled_from(REGIONS), padding=st.sampled_from(["", " "]))
def test_withheld_numbers_and_extensions_are_none(raw, region, padding):
    assert to_e164(padding + raw + padding, region) is None


GARBAGE = (
    st.text(max_size=40)
    | st.from_regex(r"[+]?[0-9 ()\-.]{0,24}", fullmatch=True)
    | st.from_regex(r"(00|\+|8|7|810)?[0-9]{4,17}", fullmatch=True)
)


@given(raw=GARBAGE, region=st.sampled_from(REGIONS))
@example(raw="+270000001", region="RU")  # national prefixes after the country code: one lost per reading
def test_anything_is_none_or_a_number_of_the_country_it_names_or_the_default_region(raw, region):
    """A result is always possible; if it is not valid, its country is the written one or the default region's.

    libphonenumber's validity tables lag behind new number ranges, so a number of possible length where it is
    read is kept (a caller in a new range still gets a callback); garbage never becomes another country's number.
    """
    result = to_e164(raw, region)
    if result is None:
        return
    assert E164.fullmatch(result)
    assert result not in WITHHELD
    number = phonenumbers.parse(result)
    assert phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE
    if not phonenumbers.is_valid_number(number):
        digits = re.sub(r"[^0-9]", "", raw)
        written = raw.strip().startswith("+") or digits.startswith("00")
        assert (written and digits.removeprefix("00").startswith(str(number.country_code))) or (
            number.country_code == phonenumbers.country_code_for_region(region)
        )
    # E.164 reads back as itself, whatever the default region.
    assert all(to_e164(result, other) == result for other in REGIONS)
