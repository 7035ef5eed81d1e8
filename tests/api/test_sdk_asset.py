"""``GET /sdk/tokenward.js``: the browser SDK's file, content type and caching
(docs/browser-sdk.md)."""

from __future__ import annotations

import base64
import hashlib

from fastapi.testclient import TestClient

SDK = "/sdk/tokenward.js"


def test_sdk_is_served_as_javascript_with_its_hash_as_etag(client: TestClient) -> None:
    """The SDK is JavaScript (nosniff), public, cached for an hour, with the SHA-256 of its
    bytes as ETag and its Subresource Integrity value in a header; no token needed."""
    response = client.get(SDK)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=3600"
    digest = hashlib.sha256(response.content).hexdigest()[:16]
    assert response.headers["etag"] == f'"{digest}"'
    sri = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
    assert response.headers["x-tokenward-sdk-integrity"] == f"sha384-{sri}"
    assert response.headers["access-control-allow-origin"] == "*"


def test_sdk_url_pinned_to_its_hash_is_immutable_and_a_stale_pin_is_not(
    client: TestClient,
) -> None:
    """``?v=<hash>`` of the current file: cached a year, immutable; ``?v=`` of another file:
    the current file, never cached without revalidation."""
    digest = client.get(SDK).headers["etag"].strip('"')
    pinned = client.get(SDK, params={"v": digest})
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = client.get(SDK, params={"v": "0000000000000000"})
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    assert stale.content == pinned.content


def test_sdk_revalidation_answers_304(client: TestClient) -> None:
    """A request with the current ETag in ``If-None-Match`` gets 304 without a body."""
    etag = client.get(SDK).headers["etag"]
    again = client.get(SDK, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
