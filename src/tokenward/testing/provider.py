"""A provider double: a real OAuth 2.0 authorization server on a loopback socket, whose
behaviour each test sets, for testing code that talks to OAuth providers over real HTTP.

::

    with ProviderDouble(ProviderBehaviour(reuse_revokes_grant=True)) as provider:
        provider.fail_next(Failure.http(503, retry_after=2))
        ...  # point the code under test at provider.url
        assert provider.refresh_count == 1

It serves ``GET /authorize`` (``POST /authorize`` too: its login form, with
``ProviderBehaviour.login_form``), ``POST /token``, ``POST /revoke``, ``POST /par``,
``GET /.well-known/oauth-authorization-server``, a protected resource ``GET /api/me``, an
unauthenticated ``/api/echo/…`` (any method) and ``GET /api/redirect?to=…`` (see
``provider_app``); its rules live in ``provider_state`` and its switches in
``provider_behaviour``. Uvicorn runs it in a daemon thread on 127.0.0.1 only, on a socket bound
before the thread starts, so ``url`` is known and valid as soon as the double is entered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from tokenward.clock import Clock, SystemClock
from tokenward.testing.loopback import LoopbackServer
from tokenward.testing.provider_app import build_app
from tokenward.testing.provider_behaviour import Failure, ProviderBehaviour, RegisteredClient
from tokenward.testing.provider_records import RecordedRequest
from tokenward.testing.provider_state import ProviderState

__all__ = ["ProviderDouble", "provider_fixture"]


class ProviderDouble:
    """One running provider double; use it as a context manager (or ``start``/``stop``)."""

    def __init__(
        self,
        behaviour: ProviderBehaviour | None = None,
        *,
        clients: Sequence[RegisteredClient] = (RegisteredClient(),),
        users: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._state = ProviderState(
            clients={client.client_id: client for client in clients},
            behaviour=behaviour or ProviderBehaviour(),
            clock=clock or SystemClock(),
            users=users if users is not None else {"alice": "wonderland"},
        )
        self._server = LoopbackServer(
            lambda url: build_app(self._state, url), "provider-double", app_for_url=True
        )
        self.url = ""

    # -- what tests read and set -------------------------------------------------------------

    @property
    def state(self) -> ProviderState:
        """The double's memory (codes, grants, tokens); read it under ``state.lock``."""
        return self._state

    @property
    def behaviour(self) -> ProviderBehaviour:
        return self._state.behaviour

    @property
    def client(self) -> RegisteredClient:
        """The first registered client (the only one unless ``clients`` was given)."""
        return next(iter(self._state.clients.values()))

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def refresh_count(self) -> int:
        """Refresh grants that issued tokens."""
        with self._state.lock:
            return self._state.refresh_count

    @property
    def refresh_attempts(self) -> int:
        """Refresh grant requests received, whatever the answer."""
        return sum(
            1
            for r in self.requests
            if r.path == "/token" and (r.form or r.json or {}).get("grant_type") == "refresh_token"
        )

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def fail_next(self, *failures: Failure) -> None:
        """Queue canned failures; each is used once, by the next request to its path."""
        with self._state.lock:
            self._state.behaviour.fail_next.extend(failures)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ProviderDouble:
        self._server.start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ProviderDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def provider_fixture(
    behaviour: Callable[[], ProviderBehaviour] = ProviderBehaviour, **options: Any
) -> Any:
    """A function-scoped pytest fixture yielding a fresh running ``ProviderDouble``::

        provider = provider_fixture(lambda: ProviderBehaviour(send_iss=True))

    pytest is imported only here, so the package does not need it at run time.
    """
    import pytest

    @pytest.fixture
    def _provider() -> Iterator[ProviderDouble]:
        with ProviderDouble(behaviour(), **options) as provider:
            yield provider

    return _provider
