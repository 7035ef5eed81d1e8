"""The secondary token set in a sealed credential document (hook ``rotating_bot_and_user_tokens``):
kept beside the credential's own set, never shown in an AuthValue, replaced on its own, and
counted when the background refresher is scheduled."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tokenward.domain.authvalue import mask_document, public_document
from tokenward.oauth.responses import TokenSet
from tokenward.services.context import LifecyclePolicy
from tokenward.services.credential_documents import (
    document_from_tokens,
    next_refresh,
    read_document,
    secondary_due,
    with_secondary,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _set(access: str, refresh: str | None, seconds: int, kind: str) -> TokenSet:
    return TokenSet(
        access_token=access,
        token_type=kind,
        refresh_token=refresh,
        expires_at=NOW + timedelta(seconds=seconds),
        scope=None,
        raw={"access_token": access, "token_type": kind},
    )


def test_secondary_set_round_trips_and_stays_out_of_the_auth_value() -> None:
    """Both sets are read back; the AuthValue (revealed or masked) shows neither user secret."""
    tokens = replace(
        _set("app-at", "app-rt", 3600, "bot"), secondary=_set("user-at", "user-rt", 1800, "user")
    )
    text, masked = document_from_tokens(tokens, None)
    doc = read_document("OAuth2", text)
    assert doc.secondary is not None
    assert (doc.access_token, doc.secondary.access_token) == ("app-at", "user-at")
    assert doc.secondary.refresh_token == "user-rt"
    assert doc.secondary.expires_utc == NOW + timedelta(seconds=1800)
    for shown in (masked, public_document(text), mask_document("OAuth2", text)):
        assert "user-at" not in shown
        assert "user-rt" not in shown
        assert "Secondary" not in shown


def test_refreshing_one_set_keeps_the_other() -> None:
    """A new top-level set keeps the stored secondary set; a new secondary set keeps the
    top-level one and, without a refresh token of its own, the previous one (RT-02)."""
    first = replace(
        _set("app-at", "app-rt", 3600, "bot"), secondary=_set("user-at", "user-rt", 1800, "user")
    )
    text, _ = document_from_tokens(first, None)
    stored = read_document("OAuth2", text)
    text2, _ = document_from_tokens(_set("app-at2", "app-rt2", 3600, "bot"), stored)
    after_app = read_document("OAuth2", text2)
    assert after_app.secondary == stored.secondary
    text3, _ = with_secondary(text2, _set("user-at2", None, 1800, "user"), after_app.secondary)
    after_user = read_document("OAuth2", text3)
    assert (after_user.access_token, after_user.refresh_token) == ("app-at2", "app-rt2")
    assert after_user.secondary is not None
    assert (after_user.secondary.access_token, after_user.secondary.refresh_token) == (
        "user-at2",
        "user-rt",
    )


def test_schedule_and_due_follow_the_earlier_expiry() -> None:
    """The refresher looks before the secondary set's expiry when it comes first; the set is
    due inside its margin and not before."""
    policy = LifecyclePolicy(keepalive=None)
    user_expiry = NOW + timedelta(seconds=1800)
    later = next_refresh(
        policy,
        NOW,
        expires_utc=NOW + timedelta(hours=12),
        renewable=True,
        last_refreshed_utc=NOW,
        secondary_expires_utc=user_expiry,
    )
    assert later == user_expiry - timedelta(minutes=5)
    tokens = replace(_set("a", "r", 43200, "bot"), secondary=_set("u", "ur", 1800, "user"))
    doc = read_document("OAuth2", document_from_tokens(tokens, None)[0])
    assert not secondary_due(doc, NOW, timedelta(minutes=5))
    assert secondary_due(doc, NOW + timedelta(seconds=1500), timedelta(minutes=5))
