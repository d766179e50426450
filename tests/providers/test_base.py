"""The helpers every adapter shares (providers.base), each tested on its own."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callsvc.calls.events import CallEvent, EventKind, ParsedDelivery
from callsvc.providers.base import (
    INT32,
    SECONDS,
    SEQUENCE,
    PayloadInvalid,
    SignatureInvalid,
    as_int,
    as_text,
    check_events,
    from_unix,
    in_utc,
    parse_multipart,
    read_json,
    redact_form_field,
    text_at,
    top_level_values,
)

EVENT = CallEvent(kind=EventKind.started, provider_call_id="c1", occurred_at=datetime(2026, 11, 22, 10, tzinfo=UTC))


def refused(call, *args, **kwargs) -> PayloadInvalid:
    with pytest.raises(PayloadInvalid) as caught:
        call(*args, **kwargs)
    return caught.value


class TestReadJson:
    def test_object_is_read(self):
        assert read_json(b'{"a": [1, 2.5, "x", null, true]}', "body") == {"a": [1, 2.5, "x", None, True]}

    @pytest.mark.parametrize("depth", [33, 1_000, 100_000])
    def test_nesting_deeper_than_32_levels_is_refused_before_json_loads_recurses(self, depth):
        error = refused(read_json, b'{"a":' * depth + b"1" + b"}" * depth, "body")
        assert (error.field, error.detail) == ("body", "body nests deeper than 32 levels")

    def test_32_levels_are_read(self):
        assert read_json(b'{"a":' * 31 + b"[1]" + b"}" * 31, "json")

    def test_brackets_inside_strings_do_not_count_as_nesting(self):
        text = json.dumps({"a": "[" * 100, "b": '\\"{' * 100})
        assert read_json(text.encode(), "body")["a"] == "[" * 100

    @pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_finite_constants_are_refused(self, constant):
        error = refused(read_json, b'{"timestamp": ' + constant + b"}", "json")
        assert error.field == "json"
        assert constant.decode() in error.detail

    @pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
    def test_numbers_too_large_for_a_float_are_refused(self, number):
        assert "too large" in refused(read_json, b'{"n": ' + number + b"}", "body").detail

    def test_integer_past_pythons_digit_limit_is_refused(self):
        assert refused(read_json, b'{"n": ' + b"9" * 5000 + b"}", "body").field == "body"

    @pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}', '{"a": 1}'.encode("utf-16")])
    def test_text_that_is_not_utf8_is_refused(self, raw):
        assert refused(read_json, raw, "body").detail == "body is not UTF-8 text"

    @pytest.mark.parametrize("raw", [b"[]", b'"x"', b"1", b"null", b""])
    def test_anything_but_an_object_is_refused(self, raw):
        assert refused(read_json, raw, "body").field == "body"


class TestNumbers:
    @pytest.mark.parametrize(
        ("value", "expected"), [(42, 42), ("42", 42), (42.0, 42), ("-7", -7), (None, None), ("", None)]
    )
    def test_whole_numbers_are_read_from_numbers_and_text(self, value, expected):
        assert as_int(value, "n") == expected

    @pytest.mark.parametrize(
        "value", [1.5, float("inf"), float("-inf"), float("nan"), True, "1.0", "1e3", " 1", "1_000", "٣", [], {}]
    )
    def test_anything_but_a_whole_number_is_refused(self, value):
        assert refused(as_int, value, "seq").detail == "seq is not a whole number"

    @pytest.mark.parametrize(
        ("value", "within"),
        [
            (2**31, INT32),
            (-(2**31) - 1, INT32),
            (-1, SECONDS),
            (2**63, SEQUENCE),
            ("9" * 41, SEQUENCE),
            ("9" * 5000, INT32),
        ],
    )
    def test_numbers_outside_their_column_are_refused(self, value, within):
        assert "is not between" in refused(as_int, value, "n", within=within).detail

    def test_unix_time_is_read_as_utc(self):
        assert from_unix("1795341600", "t") == datetime(2026, 11, 22, 10, tzinfo=UTC)

    @pytest.mark.parametrize("value", [-1, 253_402_300_800, 10**20, 1e300])
    def test_unix_time_outside_1970_to_9999_is_refused(self, value):
        assert refused(from_unix, value, "t").field == "t"

    def test_last_second_of_9999_is_read(self):
        assert from_unix(253_402_300_799, "t") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


class TestText:
    @pytest.mark.parametrize(("value", "expected"), [("501", "501"), (501, "501"), (None, None), ("", None)])
    def test_text_and_whole_numbers_are_text(self, value, expected):
        assert as_text(value, "id") == expected

    @pytest.mark.parametrize("value", [True, 1.5, [], {"id": 1}])
    def test_objects_lists_booleans_and_fractions_are_not(self, value):
        assert refused(as_text, value, "data.user.id").field == "data.user.id"

    def test_text_at_a_path_through_something_that_is_not_an_object_is_absent(self):
        assert text_at({"from": "74951112233"}, "from.number", prefix="json.") is None

    def test_text_at_a_path_names_the_whole_path_when_refused(self):
        assert refused(text_at, {"from": {"number": []}}, "from.number", prefix="json.").field == "json.from.number"


class TestTimes:
    def test_aware_time_is_converted_to_utc(self):
        at = datetime(2026, 11, 22, 13, tzinfo=timezone(timedelta(hours=3)))
        assert in_utc(at, "t") == datetime(2026, 11, 22, 10, tzinfo=UTC)

    @pytest.mark.parametrize(
        "at",
        [
            pytest.param(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), id="year-1-ahead-of-utc"),
            pytest.param(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2))), id="9999-behind-utc"),
            pytest.param(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), id="before-1970"),
            pytest.param(datetime(2026, 11, 22, 10), id="naive"),
        ],
    )
    def test_times_outside_1970_to_9999_or_naive_are_refused(self, at):
        assert refused(in_utc, at, "occurred_at").field == "occurred_at"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda values: st.lists(values, max_size=3) | st.dictionaries(st.text(max_size=5), values, max_size=3),
    max_leaves=12,
)


class TestTopLevelValues:
    def spans(self, raw: bytes, name: str = "token") -> list[bytes] | None:
        found = top_level_values(raw, name)
        return None if found is None else [raw[span] for span in found]

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"token":"t1","event":"call.created","data":{"id":1}}',
            b'{"event":"call.created","data":{"id":1},"token":"t1"}',
            b'{"data":{"id":1},"token":"t1","event":"call.created"}',
        ],
    )
    def test_token_is_found_wherever_it_stands_among_the_keys(self, raw):
        assert self.spans(raw) == [b'"t1"']

    def test_whitespace_around_every_token_is_allowed(self):
        assert self.spans(b' \n{ "data" : [ 1 , { } ] ,\r\n\t"token"\t:\t"t1" }\n ') == [b'"t1"']

    def test_nested_token_keys_do_not_count(self):
        raw = b'{"data":{"token":"nested","user":{"token":"deeper"}},"list":[{"token":"x"}],"token":"t1"}'
        assert self.spans(raw) == [b'"t1"']

    def test_body_without_a_top_level_token_has_none(self):
        assert self.spans(b'{"data":{"token":"nested"}}') == []

    def test_escaped_quotes_and_brackets_inside_strings_are_skipped(self):
        raw = rb'{"note":"say \"token\": \"no\" ] } [","token":"t\"1","x":"\\"}'
        assert self.spans(raw) == [rb'"t\"1"']

    def test_a_key_spelled_with_escapes_is_the_same_key(self):
        assert self.spans(rb'{"\u0074oken":"t1"}') == [b'"t1"']

    def test_a_key_with_a_backslash_that_is_another_name_does_not_count(self):
        assert self.spans(rb'{"to\"ken":"t1"}') == []

    def test_values_of_any_kind_are_spanned_whole(self):
        raw = b'{"token":{"a":[1,{"b":"}"}]},"n":-1.5e3,"t":true}'
        assert self.spans(raw) == [b'{"a":[1,{"b":"}"}]}']
        assert self.spans(raw, "n") == [b"-1.5e3"]

    def test_every_occurrence_of_a_repeated_key_is_found(self):
        assert self.spans(b'{"token":"a","token":"b"}') == [b'"a"', b'"b"']

    def test_body_nested_a_thousand_levels_deep_is_walked_without_recursion(self):
        raw = b'{"data":' + b"[" * 1000 + b"]" * 1000 + b',"token":"t1"}'
        assert self.spans(raw) == [b'"t1"']

    def test_invalid_utf8_outside_the_token_does_not_hide_it(self):
        assert self.spans(b'{"data":"\xff\xfe","token":"t1"}') == [b'"t1"']

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"[]",
            b'"token"',
            b'{"token":"t1"',
            b'{"token":"t1",}',
            b'{"token" "t1"}',
            b'{token:"t1"}',
            b'{"token":"t1"} {}',
            b'{"token":"t1","data":[1,2}',
            b'{"token":"t1","data":"unterminated}',
            b'{"token":}',
            b'{,"token":"t1"}',
        ],
    )
    def test_body_that_is_not_a_json_object_has_no_values(self, raw):
        assert self.spans(raw) is None

    def test_empty_object_has_no_values(self):
        assert self.spans(b" { } ") == []

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=5), st.text(max_size=5), st.booleans())
    def test_values_found_are_those_json_loads_reads(self, obj, name, pretty):
        raw = json.dumps(obj, ensure_ascii=not pretty, indent=2 if pretty else None).encode()
        found = [json.loads(value) for value in self.spans(raw, name)]
        assert found == ([obj[name]] if name in obj else [])


class TestRedactFormField:
    def test_every_value_of_the_field_is_overwritten_and_the_rest_is_kept_byte_for_byte(self):
        body = b"vpbx_api_key=secret%2B1&sign=ab&json=%7B%22a%22%3A1%7D&vpbx_api_key=again"
        assert redact_form_field(body, "vpbx_api_key") == (
            b"vpbx_api_key=REDACTED&sign=ab&json=%7B%22a%22%3A1%7D&vpbx_api_key=REDACTED"
        )

    def test_a_percent_encoded_name_is_the_same_field(self):
        assert redact_form_field(b"vpbx%5Fapi_key=secret&x=1", "vpbx_api_key") == b"vpbx%5Fapi_key=REDACTED&x=1"

    def test_body_without_the_field_is_unchanged(self):
        assert redact_form_field(b"sign=ab&json=x", "vpbx_api_key") == b"sign=ab&json=x"


class TestParseMultipart:
    TYPE = "multipart/form-data; boundary=zd9"

    def test_fields_are_read_and_the_preamble_and_epilogue_left_out(self):
        body = (
            b"preamble\r\n--zd9\r\nContent-Disposition: form-data; name=event\r\n\r\nNOTIFY_END\r\n"
            b'--zd9 \r\nContent-Disposition: form-data; name="note"\r\n\r\ntwo\r\nlines\r\n'
            b'--zd9\r\nContent-Disposition: form-data; name="note"\r\n\r\n\r\n--zd9--\r\nepilogue'
        )
        assert parse_multipart(body, self.TYPE) == {"event": ["NOTIFY_END"], "note": ["two\r\nlines", ""]}

    def test_parts_nested_in_a_part_are_not_followed(self):
        nested = b"--in\r\nContent-Disposition: form-data; name=inner\r\n\r\nx\r\n--in--"
        body = (
            b"--zd9\r\nContent-Disposition: form-data; name=outer\r\nContent-Type: multipart/mixed; boundary=in"
            b"\r\n\r\n" + nested + b"\r\n--zd9--\r\n"
        )
        assert parse_multipart(body, self.TYPE) == {"outer": [nested.decode()]}

    @pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
    def test_a_body_without_a_boundary_has_no_fields(self, content_type):
        assert parse_multipart(b"--zd9\r\n\r\nx\r\n--zd9--", content_type) == {}

    def test_more_parts_than_a_form_may_have_are_refused_before_they_are_read(self):
        body = b"--zd9\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n" * 501 + b"--zd9--"
        with pytest.raises(SignatureInvalid):
            parse_multipart(body, self.TYPE)


class TestCheckEvents:
    def check(self, **changes) -> PayloadInvalid:
        return refused(check_events, ParsedDelivery(type="call.ended", events=[EVENT, replace(EVENT, **changes)]))

    def test_events_that_fit_their_columns_pass(self):
        full = replace(
            EVENT,
            provider_call_id="c" * 200,
            from_number="f" * 200,
            to_number="t" * 200,
            identity="i" * 200,
            recording_ref="r" * 200,
            recording_url="https://r.example.com/" + "x" * 5000,
            talk_seconds=2**31 - 1,
            seq=2**63 - 1,
            occurred_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        )
        check_events(ParsedDelivery(type="call.ended", events=[EVENT, full]))

    @pytest.mark.parametrize(
        "field", ["provider_call_id", "from_number", "to_number", "identity", "recording_url", "recording_ref"]
    )
    @pytest.mark.parametrize("character", ["\x00", "\ud800"])
    def test_nul_or_lone_surrogate_in_any_text_is_refused(self, field, character):
        assert self.check(**{field: f"a{character}b"}).field == field

    @pytest.mark.parametrize("field", ["provider_call_id", "from_number", "to_number", "identity", "recording_ref"])
    def test_text_longer_than_its_column_is_refused(self, field):
        error = self.check(**{field: "x" * 201})
        assert (error.field, error.detail) == (field, f"{field} is longer than 200 characters")

    def test_call_id_longer_than_200_characters_is_refused(self):
        assert self.check(provider_call_id="c" * 201).field == "provider_call_id"

    @pytest.mark.parametrize(
        ("field", "value"),
        [("talk_seconds", 2**31), ("talk_seconds", -(2**31) - 1), ("seq", 2**63), ("seq", -(2**63) - 1)],
    )
    def test_numbers_outside_their_integer_column_are_refused(self, field, value):
        assert self.check(**{field: value}).field == field

    @pytest.mark.parametrize(
        "at",
        [
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            datetime(1969, 12, 31, tzinfo=UTC),
            datetime(2026, 11, 22, 10),
        ],
    )
    def test_times_outside_1970_to_9999_or_naive_are_refused(self, at):
        assert self.check(occurred_at=at).field == "occurred_at"

    def test_values_of_the_wrong_type_are_refused(self):
        assert self.check(identity={"id": 1}).field == "identity"
        assert self.check(talk_seconds=True).field == "talk_seconds"
        assert self.check(occurred_at="2026-11-22").field == "occurred_at"

    def test_nul_in_the_delivery_type_is_refused(self):
        error = refused(check_events, ParsedDelivery(type="call.\x00", events=[]))
        assert error.field == "type"
