"""``Idempotency-Key`` on POST calls (SECURITY.md R-12).

The first request with a key reserves it; its response (sealed: it may hold a secret such as a
sign-in token) is stored on completion. A repeat with the same body gets the stored response; a
repeat with another body gets 422; a repeat while the first is still running waits for it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta

from tokenward.crypto.fields import idempotency_aad
from tokenward.errors import IdempotencyMismatch, InvalidRequest, StateConflict
from tokenward.services.context import ServiceContext

__all__ = ["MAX_KEY_LENGTH", "Replay", "begin", "finish", "purge", "request_hash"]

MAX_KEY_LENGTH = 200
_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: str


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def begin(ctx: ServiceContext, scope: str, key: str, digest: str) -> Replay | None:
    """Reserve ``key``; or the stored response of an earlier identical request."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            "Idempotency-Key must be 1 to 200 characters.", "invalid_idempotency_key"
        )
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        with ctx.db.write() as tx:
            if tx.idempotency.reserve(scope, key, digest, ctx.clock.now()):
                return None
            record = tx.idempotency.get(scope, key)
        if record is None:
            continue  # released between our insert and read: try again
        if record.request_hash != digest:
            raise IdempotencyMismatch(
                "This Idempotency-Key was used with a different request body."
            )
        if record.status_code is not None and record.response is not None:
            body = ctx.sealer.open(record.response, idempotency_aad(scope, key))
            return Replay(record.status_code, body)
        if time.monotonic() > deadline:
            raise StateConflict(
                "A request with this Idempotency-Key is still in progress.",
                "idempotency_in_progress",
            )
        time.sleep(0.05)


def finish(ctx: ServiceContext, scope: str, key: str, status_code: int, body: str) -> None:
    """Store the response; server errors release the key so that a retry runs again."""
    with ctx.db.write() as tx:
        if status_code >= 500:
            tx.idempotency.release(scope, key)
        else:
            sealed = ctx.sealer.seal(body, idempotency_aad(scope, key))
            tx.idempotency.complete(scope, key, status_code, sealed)


def purge(ctx: ServiceContext, older_than: timedelta = timedelta(hours=24)) -> int:
    with ctx.db.write() as tx:
        return tx.idempotency.purge(ctx.clock.now() - older_than)
