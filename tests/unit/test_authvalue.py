"""AuthValue parsing and masking (DESIGN.md §5, SECURITY.md K-04), property-tested."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward.domain.authvalue import (
    MASK,
    MAX_AUTH_VALUE,
    MAX_TOKEN,
    format_utc,
    mask_document,
    parse_auth_value,
)
from tokenward.errors import InvalidRequest

AUTH_TYPES = ["ApiKey", "Basic", "OAuth2", "OAuth1", "None"]
_SAFE = st.characters(
    min_codepoint=33,
    max_codepoint=0x2FFF,
    exclude_characters="*",
    exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
)
tokens = st.text(_SAFE, min_size=1, max_size=64).map(lambda t: f"tok-{t}")
dates = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive by contract
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))


def _any_case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper(), name.swapcase()])


@given(tokens)
def test_api_key_is_kept_and_masked(key: str) -> None:
    """An API key is stored as given and reads back only as the mask."""
    parsed = parse_auth_value("ApiKey", f"  {key} ")
    assert parsed.document == key
    assert parsed.masked == MASK
    assert not parsed.pending


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_basic_round_trips_any_credentials(user: bytes, password: bytes) -> None:
    """Any base64("user:pass") is accepted and decodes back to the same bytes."""
    value = base64.b64encode(user + b":" + password).decode()
    parsed = parse_auth_value("Basic", value)
    assert base64.b64decode(parsed.document) == user + b":" + password
    assert parsed.masked == MASK


def test_basic_without_padding_is_padded() -> None:
    """Missing base64 padding is tolerated."""
    value = base64.b64encode(b"ab:c").decode().rstrip("=")
    assert parse_auth_value("Basic", value).document.endswith("=")


@given(
    access=st.none() | tokens,
    refresh=st.none() | tokens,
    expires=st.none() | dates,
    refresh_expires=st.none() | dates,
    names=st.tuples(
        _any_case("AccessToken"),
        _any_case("RefreshToken"),
        _any_case("Expires"),
        _any_case("RefreshExpires"),
    ),
)
def test_oauth2_json_round_trip(
    access: str | None,
    refresh: str | None,
    expires: datetime | None,
    refresh_expires: datetime | None,
    names: tuple[str, str, str, str],
) -> None:
    """Keys in any case normalise to Cyclr's names; tokens are masked and dates kept."""
    given_fields = {
        names[0]: access,
        names[1]: refresh,
        names[2]: format_utc(expires) if expires else None,
        names[3]: format_utc(refresh_expires) if refresh_expires else None,
    }
    raw = json.dumps({k: v for k, v in given_fields.items() if v is not None})
    if access is None and refresh is None:
        if raw == "{}":
            assert parse_auth_value("OAuth2", raw).pending
            return
        with pytest.raises(InvalidRequest):
            parse_auth_value("OAuth2", raw)
        return
    parsed = parse_auth_value("OAuth2", raw)
    document = json.loads(parsed.document)
    assert document.get("AccessToken") == access
    assert document.get("RefreshToken") == refresh
    masked = json.loads(parsed.masked)
    assert set(masked) == set(document)
    assert all(masked[k] == MASK for k in ("AccessToken", "RefreshToken") if k in masked)
    assert masked.get("Expires") == (format_utc(expires) if expires else None)
    assert parsed.refresh_expires_utc == refresh_expires
    assert parsed.expires_utc == (expires if access else None)
    assert parsed.masked == mask_document("OAuth2", parsed.document)
    for token in (access, refresh):
        assert token is None or token not in parsed.masked


@given(tokens)
def test_raw_access_token(token: str) -> None:
    """A plain string is an access token."""
    parsed = parse_auth_value("OAuth2", token)
    assert json.loads(parsed.document) == {"AccessToken": token}
    assert json.loads(parsed.masked) == {"AccessToken": MASK}


def test_empty_object_is_pending() -> None:
    """``"{}"`` means "authenticate at first use": pending, nothing secret, reads "{}"."""
    parsed = parse_auth_value("OAuth2", " {} ")
    assert (parsed.document, parsed.masked, parsed.pending) == ("{}", "{}", True)


def test_null_fields_are_absent() -> None:
    """A null token or date is the same as leaving it out."""
    parsed = parse_auth_value("OAuth2", '{"AccessToken": "a", "RefreshToken": null}')
    assert json.loads(parsed.document) == {"AccessToken": "a"}


@given(st.integers(min_value=-14 * 60, max_value=14 * 60), dates)
def test_offsets_become_utc(minutes: int, moment: datetime) -> None:
    """Dates with an offset or none (read as UTC) are stored in UTC."""
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    if not datetime(1971, 1, 1, tzinfo=UTC) < moment < datetime(9998, 1, 1, tzinfo=UTC):
        return
    raw = json.dumps({"AccessToken": "a", "Expires": local.isoformat()})
    assert parse_auth_value("OAuth2", raw).expires_utc == moment
    naive = json.dumps({"AccessToken": "a", "Expires": moment.replace(tzinfo=None).isoformat()})
    assert parse_auth_value("OAuth2", naive).expires_utc == moment


@given(st.text(max_size=30), st.text(max_size=30), st.sampled_from(AUTH_TYPES))
def test_mask_anywhere_is_refused(before: str, after: str, auth_type: str) -> None:
    """A written AuthValue containing the mask is refused whatever the auth type."""
    with pytest.raises(InvalidRequest) as caught:
        parse_auth_value(auth_type, before + MASK + after)
    assert caught.value.code == "masked_value"


@given(
    st.text(st.characters(min_codepoint=65, max_codepoint=122), min_size=1, max_size=20).filter(
        lambda k: k.lower() not in {"accesstoken", "refreshtoken", "expires", "refreshexpires"}
    )
)
def test_unknown_keys_are_refused(key: str) -> None:
    """Any key outside the four is refused, naming the key but no value."""
    raw = json.dumps({"AccessToken": "secret-value", key: "x"})
    with pytest.raises(InvalidRequest) as caught:
        parse_auth_value("OAuth2", raw)
    assert "secret-value" not in caught.value.message


@pytest.mark.parametrize(
    "fields",
    [
        {"AccessToken": 1},
        {"AccessToken": True},
        {"AccessToken": ["a"]},
        {"AccessToken": {"a": "b"}},
        {"AccessToken": "a", "Expires": 1},
        {"AccessToken": "a", "Expires": "2030-02-30T00:00:00Z"},
        {"AccessToken": "a", "Expires": "1969-12-31T23:59:59Z"},
        {"AccessToken": "a", "Expires": "0001-01-01T00:00:00+01:00"},
        {"AccessToken": "a", "Expires": "9999-12-31T23:59:59-05:00"},
        {"AccessToken": ""},
        {"AccessToken": "   "},
        {"AccessToken": "a\nb"},
        {"AccessToken": "a\ud800"},
    ],
)
def test_wrong_types_and_values_are_refused(fields: dict[str, object]) -> None:
    """Wrong types, impossible or out-of-range dates and control characters are refused."""
    with pytest.raises(InvalidRequest):
        parse_auth_value("OAuth2", json.dumps(fields))


def test_sizes_are_bounded() -> None:
    """Each token is at most 16 KiB and the whole value at most 64 KiB."""
    parse_auth_value("ApiKey", "k" * MAX_TOKEN)
    for raw, auth_type in [
        ("k" * (MAX_TOKEN + 1), "ApiKey"),
        (json.dumps({"AccessToken": "a" * (MAX_TOKEN + 1)}), "OAuth2"),
        (" " * (MAX_AUTH_VALUE + 1), "OAuth2"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            parse_auth_value(auth_type, raw)
        assert caught.value.code == "auth_value_too_large"


def test_oauth1_needs_both_parts() -> None:
    """OAuth 1 needs a token and its secret; keys in any case."""
    parsed = parse_auth_value("OAuth1", '{"accesstoken": "t", "ACCESSTOKENSECRET": "s"}')
    assert json.loads(parsed.document) == {"AccessToken": "t", "AccessTokenSecret": "s"}
    for raw in ('{"AccessToken": "t"}', '{"AccessToken": "t", "Secret": "s"}', "t"):
        with pytest.raises(InvalidRequest):
            parse_auth_value("OAuth1", raw)


def test_duplicate_keys_in_any_case_are_refused() -> None:
    """The same field twice (any case) is ambiguous and refused."""
    with pytest.raises(InvalidRequest):
        parse_auth_value("OAuth2", '{"AccessToken": "a", "ACCESSTOKEN": "b"}')


def test_no_auth_refuses_a_value() -> None:
    """A connector without credentials takes no AuthValue."""
    with pytest.raises(InvalidRequest):
        parse_auth_value("None", "x")


@given(st.text(max_size=200), st.sampled_from(AUTH_TYPES))
def test_any_text_either_parses_or_is_a_400(raw: str, auth_type: str) -> None:
    """Whatever text arrives, the parser answers a result or InvalidRequest, nothing else."""
    try:
        parsed = parse_auth_value(auth_type, raw)
    except InvalidRequest as exc:
        refused: InvalidRequest | None = exc
    else:
        refused = None
        assert MASK not in parsed.document
        if auth_type in {"ApiKey", "Basic"}:
            assert parsed.masked == MASK
    assert refused is None or refused.message


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tokens,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["AccessToken", "refreshtoken", "Expires", "x"]), inner,
                      max_size=4),
    max_leaves=10,
), st.sampled_from(["OAuth2", "OAuth1"]))  # fmt: skip
def test_any_json_either_parses_or_is_a_400(value: object, auth_type: str) -> None:
    """Arbitrary JSON documents never crash the parser."""
    with contextlib.suppress(InvalidRequest):
        parse_auth_value(auth_type, json.dumps(value))
