"""Partner settings through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from ac_support import MASK, audit_actions, restricted_headers, rows
from fastapi.testclient import TestClient

from tokenward.crypto.fields import webhook_secret_aad
from tokenward.runtime import Runtime
from tokenward.store.tables import partner_settings

URL = "/v1.0/partner/settings"


def _put(client: TestClient, auth: dict[str, str], body: Any) -> Any:
    return client.put(URL, json=body, headers=auth)


def _get(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    response = client.get(URL, headers=auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_defaults(client: TestClient, auth: dict[str, str]) -> None:
    """Fresh settings: no stored origins, the settings' origins effective, default lifetimes."""
    assert _get(client, auth) == {
        "AllowedTargetOrigins": [],
        "EffectiveAllowedTargetOrigins": ["https://partner.example"],
        "WebhookUrl": None,
        "WebhookSecret": None,
        "ApiTokenLifetimeSeconds": 14 * 24 * 3600,
        "SignInTokenLifetimeSeconds": 300,
        "RevealPartnerAuthValue": False,
    }


def test_w01_origins_are_canonicalised_and_unioned(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Origins are stored canonical (case, default port, IDN, trailing slash), deduplicated."""
    response = _put(
        client,
        auth,
        {
            "allowedtargetorigins": [
                "HTTPS://App.Example.COM:443/",
                "https://app.example.com",
                "https://bücher.example:8443",
                "http://localhost:3000",
                "https://[::1]:8443",
            ]
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["AllowedTargetOrigins"] == [
        "https://app.example.com",
        "https://xn--bcher-kva.example:8443",
        "http://localhost:3000",
        "https://[::1]:8443",
    ]
    assert body["EffectiveAllowedTargetOrigins"] == sorted(
        [*body["AllowedTargetOrigins"], "https://partner.example"]
    )


def test_origins_as_one_comma_separated_string(client: TestClient, auth: dict[str, str]) -> None:
    """A single comma-separated string is accepted for the list."""
    body = _put(client, auth, {"AllowedTargetOrigins": "https://a.example, https://b.example"})
    assert body.json()["AllowedTargetOrigins"] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://partner.example/path",
        "https://partner.example?x=1",
        "https://partner.example#f",
        "https://partner.example@evil.com",
        "https://user:pw@partner.example",
        "https://*.partner.example",
        "*",
        "null",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://partner.example",
        "partner.example",
        "https://",
        "https://partner.example:0",
        "https://partner.example:99999",
        "https://bad_host.example",
        "https://-bad.example",
        "https://[zz::1]",
        "https://a..example",
    ],
)
def test_w01_not_an_origin_is_400_and_changes_nothing(
    client: TestClient, auth: dict[str, str], origin: str
) -> None:
    """Paths, queries, user info, wildcards, null, other schemes, bad hosts: refused (W-01)."""
    _put(client, auth, {"AllowedTargetOrigins": ["https://kept.example"]})
    before = _get(client, auth)
    response = _put(client, auth, {"AllowedTargetOrigins": ["https://ok.example", origin]})
    assert response.status_code == 400, origin
    assert response.json()["Code"] == "invalid_origin"
    assert _get(client, auth) == before


def test_http_origin_only_on_loopback_without_insecure_mode(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """http:// origins of real hosts need TOKENWARD_ALLOW_INSECURE_HTTP (on in tests)."""
    import dataclasses

    assert (
        _put(client, auth, {"AllowedTargetOrigins": ["http://partner.example"]}).status_code == 200
    )
    runtime.ctx = dataclasses.replace(runtime.ctx, allow_insecure_http=False)
    client.app.state.ctx = runtime.ctx  # type: ignore[attr-defined]
    refused = _put(client, auth, {"AllowedTargetOrigins": ["http://partner.example"]})
    assert refused.status_code == 400
    loopback = _put(client, auth, {"AllowedTargetOrigins": ["http://127.0.0.1:5173"]})
    assert loopback.status_code == 200


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://hooks.partner.example/tokenward?x=1", 200),
        ("http://127.0.0.1:9000/hook", 200),
        ("http://hooks.partner.example/hook", 400),
        ("https://user:pw@hooks.partner.example/", 400),
        ("https://hooks.partner.example/#frag", 400),
        ("ftp://hooks.partner.example/", 400),
        ("hooks.partner.example/hook", 400),
        ("https://hooks.partner.example:99999/", 400),
        ("https://hooks partner.example/", 400),
    ],
)
def test_webhook_url(client: TestClient, auth: dict[str, str], url: str, status: int) -> None:
    """WebhookUrl is https (http only on loopback in insecure mode), without user info."""
    before = _get(client, auth)
    response = _put(client, auth, {"WebhookUrl": url})
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["WebhookUrl"] == url
    else:
        assert response.json()["Code"] == "invalid_webhook_url"
        assert _get(client, auth) == before


def test_webhook_secret_is_write_only_and_sealed(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """WebhookSecret reads back as the mask; the database holds it sealed; null clears it."""
    response = _put(client, auth, {"WebhookSecret": "canary-webhook-secret"})
    assert response.json()["WebhookSecret"] == MASK
    assert _get(client, auth)["WebhookSecret"] == MASK
    assert "canary-webhook-secret" not in repr(rows(runtime, partner_settings))
    with runtime.engine.connect() as conn:
        sealed = conn.execute(partner_settings.select()).first().webhook_secret_sealed
    assert runtime.ctx.sealer.open(sealed, webhook_secret_aad()) == "canary-webhook-secret"
    assert _put(client, auth, {"WebhookSecret": None}).json()["WebhookSecret"] is None


@pytest.mark.parametrize(
    ("secret", "code"),
    [(MASK + "-and-more-text", "masked_value"), ("short", "invalid_webhook_secret")],
)
def test_bad_webhook_secret_is_400(
    client: TestClient, auth: dict[str, str], secret: str, code: str
) -> None:
    """The mask copied back, or a secret under 16 characters, is refused; nothing changes."""
    _put(client, auth, {"WebhookSecret": "a-real-secret-of-length"})
    before = _get(client, auth)
    response = _put(client, auth, {"WebhookSecret": secret, "RevealPartnerAuthValue": True})
    assert response.status_code == 400
    assert response.json()["Code"] == code
    assert _get(client, auth) == before


def test_lifetimes_bounds_strings_and_reset(client: TestClient, auth: dict[str, str]) -> None:
    """Lifetimes accept numbers as strings, are bounded, and null resets to the default."""
    body = _put(
        client, auth, {"ApiTokenLifetimeSeconds": "3600", "SignInTokenLifetimeSeconds": 600}
    ).json()
    assert (body["ApiTokenLifetimeSeconds"], body["SignInTokenLifetimeSeconds"]) == (3600, 600)
    for bad in (
        {"ApiTokenLifetimeSeconds": 59},
        {"ApiTokenLifetimeSeconds": 366 * 24 * 3600 + 1},
        {"SignInTokenLifetimeSeconds": 29},
        {"SignInTokenLifetimeSeconds": 3601},
        {"SignInTokenLifetimeSeconds": "soon"},
        {"SignInTokenLifetimeSeconds": 1.5},
    ):
        response = _put(client, auth, bad)
        assert response.status_code == 400, bad
    assert _get(client, auth)["SignInTokenLifetimeSeconds"] == 600
    reset = _put(client, auth, {"SignInTokenLifetimeSeconds": None}).json()
    assert reset["SignInTokenLifetimeSeconds"] == 300
    assert reset["ApiTokenLifetimeSeconds"] == 3600


def test_signin_token_lifetime_applies(
    client: TestClient, auth: dict[str, str], account: str
) -> None:
    """A stored SignInTokenLifetimeSeconds sets the expiry of new sign-in tokens."""
    _put(client, auth, {"SignInTokenLifetimeSeconds": 120})
    issued = client.post(
        f"/v1.0/accounts/{account}/signintoken", json={"Username": "u"}, headers=auth
    )
    first = datetime.fromisoformat(issued.json()["ExpiresAtUtc"].replace("Z", "+00:00"))
    _put(client, auth, {"SignInTokenLifetimeSeconds": 600})
    later = client.post(
        f"/v1.0/accounts/{account}/signintoken", json={"Username": "u"}, headers=auth
    )
    second = datetime.fromisoformat(later.json()["ExpiresAtUtc"].replace("Z", "+00:00"))
    assert (second - first).total_seconds() == 480


def test_put_is_partial_and_audited(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Fields a PUT does not name stay; every change is audited (names only)."""
    _put(client, auth, {"AllowedTargetOrigins": ["https://a.example"], "WebhookSecret": "x" * 20})
    body = _put(client, auth, {"RevealPartnerAuthValue": "true"}).json()
    assert body["RevealPartnerAuthValue"] is True
    assert body["AllowedTargetOrigins"] == ["https://a.example"]
    assert body["WebhookSecret"] == MASK
    assert _put(client, auth, {}).json() == body
    assert audit_actions(runtime).count("partner.settings.update") == 3
    assert "x" * 20 not in repr(rows(runtime, partner_settings))


def test_partner_level_rules(
    client: TestClient, auth: dict[str, str], account: str, api_client: tuple[str, str]
) -> None:
    """No bearer → 401; a token restricted to one account → 403; the account header is ignored."""
    assert client.get(URL).status_code == 401
    restricted = restricted_headers(client, api_client, account)
    assert client.get(URL, headers=restricted).status_code == 403
    assert _put(client, restricted, {"RevealPartnerAuthValue": True}).status_code == 403
    assert _get(client, auth)["RevealPartnerAuthValue"] is False
    assert client.get(URL, headers={**auth, "X-Cyclr-Account": "nobody"}).status_code == 200


def test_non_object_body_is_400(client: TestClient, auth: dict[str, str]) -> None:
    """The body must be a JSON object."""
    response = client.put(URL, content="[1]", headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400
