"""How a webflow ends: telling the partner's page the result (DESIGN.md §7).

* **Redirect mode** (no ``callbackMessage``): a 303 to the ``targetOrigin`` URL with
  ``status=success|error``, ``AccountConnectorId=N`` and, on failure, ``error=CODE`` added to its
  query (SECURITY.md W-03).
* **postMessage mode**: the browser is sent (303, so neither the provider's ``code`` nor
  ``state`` stays in the address bar: C-09, L-05) to ``/connector/complete?flow=…``, whose page
  posts the message to the stored origin only (W-04). On success the message is the partner's
  ``callbackMessage`` exactly; on failure its ``errorCallbackMessage``, or the JSON string
  ``{"type":"tokenward.connect","status":"error","error":CODE,"AccountConnectorId":N}``. No
  token, code, verifier or secret is ever in a message or URL (W-05).

The ``flow`` id is a fresh 256-bit random value, single use, valid for ten minutes. Its record
is a row of ``auth_sessions`` keyed by a domain-separated hash (it can never be taken for a
``state``) whose sealed part says ``completion``; the result itself is in the non-secret
``completion`` column.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from tokenward.crypto.fields import auth_session_aad
from tokenward.domain.models import AuthSession
from tokenward.errors import CredentialCorrupted, OAuthError, ServiceError, TransportError
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.webflow_params import Target

__all__ = [
    "COMPLETION_KIND",
    "FLOW_KIND",
    "FLOW_LIFETIME",
    "MESSAGE_TYPE",
    "Code",
    "Completion",
    "CompletionPage",
    "Result",
    "completion_hash",
    "completion_location",
    "failure_reason",
    "page_for",
    "redirect_location",
    "take_completion",
]

FLOW_LIFETIME = timedelta(minutes=10)
MESSAGE_TYPE = "tokenward.connect"
FLOW_KIND = "flow"
COMPLETION_KIND = "completion"
_OURS = frozenset({"status", "accountconnectorid", "error"})


class Code(StrEnum):
    """Why a flow failed, as the partner's page is told (DESIGN.md §7)."""

    ACCESS_DENIED = "access_denied"  # the user declined at the provider
    PROVIDER_ERROR = "provider_error"  # the provider answered an error or an unusable token
    INVALID_CALLBACK = "invalid_callback"  # state, issuer or binding failed
    EXPIRED = "expired"  # the flow took over ten minutes
    SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class Completion:
    """How the partner's page is told; stored (as JSON, not secret) with the flow."""

    mode: str  # "postMessage" | "redirect"
    target_origin: str  # the canonical origin
    target: str  # redirect mode: the URL; postMessage mode: the origin
    callback_message: str | None
    error_callback_message: str | None

    @classmethod
    def of(
        cls, target: Target, callback_message: str | None, error_callback_message: str | None
    ) -> Completion:
        return cls(target.mode, target.origin, target.url, callback_message, error_callback_message)

    def to_json(self, result: Result | None = None) -> str:
        data: dict[str, object] = {
            "mode": self.mode,
            "targetOrigin": self.target_origin,
            "target": self.target,
            "callbackMessage": self.callback_message,
            "errorCallbackMessage": self.error_callback_message,
        }
        if result is not None:
            data["result"] = asdict(result)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> tuple[Completion, Result | None]:
        data = json.loads(text)
        completion = cls(
            mode=str(data["mode"]),
            target_origin=str(data["targetOrigin"]),
            target=str(data["target"]),
            callback_message=data.get("callbackMessage"),
            error_callback_message=data.get("errorCallbackMessage"),
        )
        raw = data.get("result")
        result = Result(int(raw["account_connector_id"]), raw.get("error")) if raw else None
        return completion, result


@dataclass(frozen=True)
class Result:
    """The outcome of one flow: ``error`` is a :class:`Code` value, None on success."""

    account_connector_id: int
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else "success"


@dataclass(frozen=True)
class CompletionPage:
    """What the completion page shows and posts (every value is placed JSON-encoded)."""

    status_code: int
    mode: str
    target_origin: str  # the only origin the message is posted to; also frame-ancestors
    message: str  # posted in postMessage mode
    link: str  # the way back when neither window.opener nor window.parent exists (W-09)
    success: bool
    error: str | None
    account_connector_id: int


def failure_reason(exc: Exception) -> str:
    """What to log about a failed flow: a class and an OAuth error code, never a value."""
    if isinstance(exc, OAuthError):
        return f"OAuthError:{exc.error}"
    if isinstance(exc, TransportError):
        return f"TransportError:{exc.kind}"
    if isinstance(exc, ServiceError):
        return f"{type(exc).__name__}:{exc.code}"
    return type(exc).__name__


def message_of(completion: Completion, result: Result) -> str:
    if result.error is None:
        return completion.callback_message or ""
    if completion.error_callback_message:
        return completion.error_callback_message
    return json.dumps(
        {
            "type": MESSAGE_TYPE,
            "status": "error",
            "error": result.error,
            "AccountConnectorId": result.account_connector_id,
        },
        separators=(",", ":"),
    )


def redirect_location(completion: Completion, result: Result) -> str:
    """The target URL with the result in its query; the partner's own query is kept (any
    ``status``, ``AccountConnectorId`` or ``error`` of its own is replaced)."""
    parts = urlsplit(completion.target)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]).lower() not in _OURS
    ]
    ours = [("status", result.status), ("AccountConnectorId", str(result.account_connector_id))]
    if result.error:
        ours.append(("error", result.error))
    query = "&".join([*kept, urlencode(ours)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def page_for(completion: Completion, result: Result, status_code: int = 200) -> CompletionPage:
    """The completion page of a result (also used for the expired-flow answer, F-12)."""
    fallback = Completion(
        "redirect",
        completion.target_origin,
        completion.target if completion.mode == "redirect" else completion.target_origin,
        None,
        None,
    )
    return CompletionPage(
        status_code=status_code,
        mode=completion.mode,
        target_origin=completion.target_origin,
        message=message_of(completion, result),
        link=redirect_location(fallback, result),
        success=result.error is None,
        error=result.error,
        account_connector_id=result.account_connector_id,
    )


def completion_hash(flow_id: str) -> str:
    """The key of a completion record: domain-separated from state hashes, so a ``flow`` id
    presented as a ``state`` finds nothing."""
    return hashlib.sha256(f"{COMPLETION_KIND}:{flow_id}".encode()).hexdigest()


def completion_location(
    ctx: ServiceContext,
    tx: Tx,
    completion: Completion,
    result: Result,
    *,
    account_pk: int,
    username: str | None,
    now: datetime,
) -> str:
    """Where the browser goes when a flow ends (inside the caller's write transaction)."""
    if completion.mode == "redirect":
        return redirect_location(completion, result)
    flow_id = secrets.token_urlsafe(32)
    key = completion_hash(flow_id)
    tx.auth_sessions.add(
        AuthSession(
            state_hash=key,
            account_connector_id=result.account_connector_id,
            account_pk=account_pk,
            username=username,
            binding_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),  # never checked
            sealed=ctx.sealer.seal(json.dumps({"kind": COMPLETION_KIND}), auth_session_aad(key)),
            completion=completion.to_json(result),
            created_utc=now,
            expires_utc=now + FLOW_LIFETIME,
            outcome=COMPLETION_KIND,
        )
    )
    return f"{ctx.service_url.rstrip('/')}/connector/complete?{urlencode({'flow': flow_id})}"


def _kind(ctx: ServiceContext, session: AuthSession) -> str | None:
    try:
        opened = json.loads(ctx.sealer.open(session.sealed, auth_session_aad(session.state_hash)))
    except (CredentialCorrupted, ValueError):
        return None
    return opened.get("kind") if isinstance(opened, dict) else None


def take_completion(ctx: ServiceContext, flow_id: str | None) -> CompletionPage | None:
    """The page of a completion record, once; None when unknown, used or expired."""
    if not flow_id or len(flow_id) > 100:
        return None
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        session = tx.auth_sessions.consume(completion_hash(flow_id), now)
        if session is None or session.expires_utc <= now or _kind(ctx, session) != COMPLETION_KIND:
            return None
        completion, result = Completion.from_json(session.completion)
    if result is None:
        return None
    return page_for(completion, result)
