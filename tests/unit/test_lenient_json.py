"""The lenient JSON reader accepts what Cyclr's parser accepts and refuses the rest clearly."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.domain.lenient_json import LenientJSONError, loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_strict_json_round_trips(value: Any) -> None:
    """Any strict JSON document reads back as the same value."""
    assert loads(json.dumps(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'Parameters': {296076 : 1}}", {"Parameters": {"296076": 1}}),
        ("{name: 'x', Flag: \"false\",}", {"name": "x", "Flag": "false"}),
        ("[1, 2, ]", [1, 2]),
        ("{/* note */ a: 1 // trailing\n}", {"a": 1}),
        ("{'q': 'it\\'s'}", {"q": "it's"}),
        ("{a: -1.5e3}", {"a": -1500.0}),
    ],
)
def test_sloppy_bodies_real_clients_send(text: str, expected: Any) -> None:
    """Single quotes, bare (even numeric) keys, trailing commas and comments are accepted."""
    assert loads(text) == expected


@pytest.mark.parametrize(
    "text", ["nope", "{'a': NaN}", "{a:", "{a", "'abc", "{a:1 b:2}", '{"a":1}x', "", "[1,,2]"]
)
def test_what_still_does_not_parse_is_an_error(text: str) -> None:
    """Text that is not JSON even leniently raises an error saying where."""
    with pytest.raises(LenientJSONError, match="character"):
        loads(text)


def test_deep_nesting_is_refused() -> None:
    """Nesting beyond the limit is an error, not a crash."""
    with pytest.raises(LenientJSONError):
        loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LenientJSONError, match="too deep"):
        loads("{a:" * 100 + "1" + "}" * 100)


@given(st.text(max_size=60))
def test_never_raises_anything_but_its_own_error(text: str) -> None:
    """Arbitrary text either parses or raises LenientJSONError."""
    with contextlib.suppress(LenientJSONError):
        loads(text)
