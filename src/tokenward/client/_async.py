"""``AsyncClient``: the partner API from asyncio code (built on ``httpx.AsyncClient``).

::

    async with AsyncClient("https://auth.example.com", client_id, client_secret) as tw:
        ac = await tw.install("acme", "Generic OAuth 2.0")
        answer = await tw.call_method("acme", ac["Id"], "Get Me")

The same calls as :class:`~tokenward.client.Client`, awaited. The bearer token is cached until
shortly before its ``.expires`` and replaced once on a 401; concurrent tasks share one fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from tokenward.client import _operations as ops
from tokenward.client._call import Call, checked, is_upstream, token_form
from tokenward.client.errors import TransportError, error_for
from tokenward.client.models import (
    Account,
    AccountConnector,
    ApplicationConnector,
    BearerToken,
    Connector,
    CredentialToken,
    Event,
    Method,
    MethodResponse,
    PartnerSettings,
    Property,
    SignInToken,
)

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """A partner API client for asyncio. ``account`` restricts its bearer token to one account
    (``scope=account:{id}``); ``http`` is an ``httpx.AsyncClient`` of your own (for example one
    with ``transport=httpx.ASGITransport(app)``; you close it)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        account: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = token_form(client_id, client_secret, account)
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._token: BearerToken | None = None
        self._lock = asyncio.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    async def bearer_token(self) -> str:
        """The cached bearer token, fetched when missing or about to expire."""
        async with self._lock:
            if self._token is None or not self._token.usable(datetime.now(UTC)):
                self._token = await self._fetch_token()
            return self._token.access_token

    async def _fetch_token(self) -> BearerToken:
        response = await self._send(
            self._http.build_request("POST", f"{self.base_url}/oauth/token", data=self._credentials)
        )
        if response.status_code != 200:
            raise error_for(response)
        return BearerToken.from_answer(response.json(), datetime.now(UTC))

    async def _drop_token(self, refused: str) -> None:
        async with self._lock:  # another task may have replaced it already
            if self._token is not None and self._token.access_token == refused:
                self._token = None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request)
            await response.aread()
        except httpx.TransportError as exc:
            raise TransportError(f"{request.method} {request.url.path}: {exc}") from exc
        return response

    async def _run(self, call: Call[T]) -> T:
        bearer = await self.bearer_token()
        response = await self._send(call.request(self._http, self.base_url, bearer))
        if response.status_code == 401 and not is_upstream(response):
            await self._drop_token(bearer)  # revoked or expired early: one retry, a new token
            fresh = await self.bearer_token()
            response = await self._send(call.request(self._http, self.base_url, fresh))
        return checked(call, response)

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- accounts -------------------------------------------------------------------------------

    async def create_account(
        self,
        name: str,
        *,
        account_id: str | None = None,
        description: str | None = None,
        timezone: str | None = None,
        idempotency_key: str | None = None,
    ) -> Account:
        """Create an account (its ``Id`` is generated unless ``account_id`` is given)."""
        return await self._run(
            ops.create_account(name, account_id, description, timezone, idempotency_key)
        )

    async def list_accounts(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> list[Account]:
        return await self._run(ops.list_accounts(page, page_size))

    async def get_account(self, account_id: str) -> Account:
        return await self._run(ops.get_account(account_id))

    async def update_account(
        self, account_id: str, *, name: str | None = None, description: str | None = None
    ) -> Account:
        return await self._run(
            ops.update_account(account_id, {"Name": name, "Description": description})
        )

    async def delete_account(self, account_id: str) -> None:
        await self._run(ops.delete_account(account_id))

    async def signin_token(self, account_id: str, username: str) -> SignInToken:
        """A single-use, five-minute sign-in token for one webflow (creates the user if new)."""
        return await self._run(ops.signin_token(account_id, username))

    async def webflow_url(
        self,
        account_id: str,
        account_connector_id: int,
        *,
        username: str,
        target_origin: str,
        callback_message: str | None = None,
        error_callback_message: str | None = None,
    ) -> str:
        """A fresh webflow start URL for one account connector (a new sign-in token in it)."""
        token = (await self.signin_token(account_id, username))["Token"]
        return ops.webflow_url(
            self.base_url,
            account_connector_id,
            token,
            target_origin,
            callback_message,
            error_callback_message,
        )

    # -- connectors, library, partner settings ------------------------------------------------

    async def list_connectors(
        self, *, query: str | None = None, page: int | None = None, page_size: int | None = None
    ) -> list[Connector]:
        return await self._run(ops.list_connectors(query, page, page_size))

    async def get_connector(self, ref: int | str) -> Any:
        """A connector by Id (an object) or by name (an array, as Cyclr answers)."""
        return await self._run(ops.get_connector(ref))

    async def connector_methods(self, ref: int | str) -> list[Method]:
        return await self._run(ops.connector_methods(ref))

    async def create_connector(self, definition: Mapping[str, Any]) -> Connector:
        """Add a custom connector (docs/authoring-connectors.md)."""
        return await self._run(ops.create_connector(definition))

    async def update_connector(self, connector_id: int, definition: Mapping[str, Any]) -> Connector:
        return await self._run(ops.update_connector(connector_id, definition))

    async def list_application_connectors(self) -> list[ApplicationConnector]:
        return await self._run(ops.list_application_connectors())

    async def get_application_connector(self, connector_id: int) -> ApplicationConnector:
        return await self._run(ops.get_application_connector(connector_id))

    async def update_application_connector(
        self,
        connector_id: int,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Sequence[str] | None = None,
        settings: Mapping[str, str] | None = None,
        enabled: bool | None = None,
    ) -> ApplicationConnector:
        """Set the library entry's fields given (the others stay)."""
        changes: dict[str, Any] = {"ClientId": client_id, "ClientSecret": client_secret}
        changes.update(Enabled=enabled, Scopes=None if scopes is None else list(scopes))
        changes["Settings"] = None if settings is None else dict(settings)
        return await self._run(ops.update_application_connector(connector_id, changes))

    async def get_partner_settings(self) -> PartnerSettings:
        return await self._run(ops.get_partner_settings())

    async def update_partner_settings(
        self,
        *,
        allowed_target_origins: Sequence[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> PartnerSettings:
        origins = None if allowed_target_origins is None else list(allowed_target_origins)
        changes = {"AllowedTargetOrigins": origins, "WebhookUrl": webhook_url}
        changes["WebhookSecret"] = webhook_secret
        return await self._run(ops.update_partner_settings(changes))

    # -- account connectors ---------------------------------------------------------------------

    async def install(
        self,
        account_id: str,
        connector: int | str,
        *,
        name: str | None = None,
        description: str | None = None,
        authentication_id: str | None = None,
        auth_value: ops.AuthValue | None = None,
        properties: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> AccountConnector:
        """Install a connector (by Id or name) into an account."""
        fields = {"Name": name, "Description": description, "AuthenticationId": authentication_id}
        return await self._run(
            ops.install(account_id, connector, fields, auth_value, properties, idempotency_key)
        )

    async def list_account_connectors(self, account_id: str) -> list[AccountConnector]:
        return await self._run(ops.list_account_connectors(account_id))

    async def get_account_connector(self, account_id: str, ac_id: int) -> AccountConnector:
        return await self._run(ops.get_account_connector(account_id, ac_id))

    async def update_account_connector(
        self,
        account_id: str,
        ac_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        auth_value: ops.AuthValue | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> AccountConnector:
        """A partial update: only the fields given change. A mapping ``auth_value`` is sent as
        the JSON string the API expects."""
        fields = {"Name": name, "Description": description}
        return await self._run(
            ops.update_account_connector(account_id, ac_id, fields, auth_value, properties)
        )

    async def set_auth_value(
        self, account_id: str, ac_id: int, auth_value: ops.AuthValue
    ) -> AccountConnector:
        """Store a credential (DESIGN.md §5): ``"{}"`` means "authenticate at first use"."""
        return await self.update_account_connector(account_id, ac_id, auth_value=auth_value)

    async def delete_account_connector(self, account_id: str, ac_id: int) -> None:
        await self._run(ops.delete_account_connector(account_id, ac_id))

    async def deauthenticate(self, account_id: str, ac_id: int) -> dict[str, Any]:
        return await self._run(ops.deauthenticate(account_id, ac_id))

    async def refresh(self, account_id: str, ac_id: int) -> AccountConnector:
        """Refresh the credential now (single flight with every other refresh)."""
        return await self._run(ops.refresh(account_id, ac_id))

    async def access_token(self, account_id: str, ac_id: int) -> CredentialToken:
        """A fresh access token for your own calls to the provider (audited)."""
        return await self._run(ops.access_token(account_id, ac_id))

    async def list_properties(self, account_id: str, ac_id: int) -> list[Property]:
        return await self._run(ops.list_properties(account_id, ac_id))

    async def add_property(self, account_id: str, ac_id: int, name: str, value: str) -> Property:
        return await self._run(ops.add_property(account_id, ac_id, name, value))

    async def update_property(
        self, account_id: str, ac_id: int, property_id: int, value: str
    ) -> Property:
        return await self._run(ops.update_property(account_id, ac_id, property_id, value))

    async def delete_property(self, account_id: str, ac_id: int, property_id: int) -> None:
        await self._run(ops.delete_property(account_id, ac_id, property_id))

    async def call_method(
        self,
        account_id: str,
        ac_id: int,
        method: int | str,
        *,
        parameters: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
        http_method: str = "POST",
    ) -> MethodResponse:
        """Call a connector method; the provider's answer comes back whatever its status."""
        return await self._run(
            ops.call_method(account_id, ac_id, method, parameters, fields, http_method)
        )

    # -- events ---------------------------------------------------------------------------------

    async def list_events(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> list[Event]:
        return await self._run(ops.list_events(page, page_size))

    async def redeliver_event(self, event_id: str) -> Event:
        return await self._run(ops.redeliver_event(event_id))
