"""The helpers every adapter shares (providers.base), each tested on its own."""

import json

import pytest

from callsvc.providers.base import PayloadInvalid, as_text, read_json, text_at


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
