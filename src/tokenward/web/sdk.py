"""``GET /sdk/tokenward.js``: the browser SDK (docs/browser-sdk.md), a static file of the package.

The file is read once, on the first request, and served with its SHA-256 as the ``ETag``. A URL
pinned to that hash (``/sdk/tokenward.js?v=<hash>``) is cached for a year as immutable; the bare
URL is cached for an hour and revalidated with the ``ETag``. The file is public and holds no
secret, so any origin may load it (also with ``crossorigin`` and Subresource Integrity).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import Response

__all__ = ["SdkAsset", "router", "sdk_asset"]

router = APIRouter(include_in_schema=False)

_MEDIA_TYPE = "text/javascript; charset=utf-8"
_PINNED = "public, max-age=31536000, immutable"
_UNPINNED = "public, max-age=3600"
_STALE_PIN = "no-cache"  # a ?v= of an older file: serve the current one, never keep it


@dataclass(frozen=True)
class SdkAsset:
    """The SDK's bytes, the hex SHA-256 that pins a URL, and its SRI value (``sha384-…``)."""

    body: bytes
    digest: str
    integrity: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


@functools.cache
def sdk_asset() -> SdkAsset:
    """The packaged ``web/static/tokenward.js`` (read once per process)."""
    body = files("tokenward.web").joinpath("static", "tokenward.js").read_bytes()
    sri = base64.b64encode(hashlib.sha384(body).digest()).decode()
    return SdkAsset(body, hashlib.sha256(body).hexdigest()[:16], f"sha384-{sri}")


def _cache_control(pin: str | None, asset: SdkAsset) -> str:
    if pin is None:
        return _UNPINNED
    return _PINNED if pin == asset.digest else _STALE_PIN


@router.get("/sdk/tokenward.js")
async def tokenward_js(request: Request) -> Response:
    """The SDK, revalidated by ``If-None-Match``."""
    asset = sdk_asset()
    headers = {
        "Cache-Control": _cache_control(request.query_params.get("v"), asset),
        "ETag": asset.etag,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Tokenward-Sdk-Integrity": asset.integrity,
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=_MEDIA_TYPE, headers=headers)
