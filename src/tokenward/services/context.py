"""What every use case is given: the database, the sealer, the clock and the settings it needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tokenward.catalog.registry import Catalog
from tokenward.clock import Clock, SystemClock
from tokenward.crypto.aead import Sealer
from tokenward.outbound.transport import Transport
from tokenward.services.audit import AuditTrail
from tokenward.services.group_commit import GroupCommit
from tokenward.services.ports import Database
from tokenward.services.single_flight import Flights

__all__ = ["LifecyclePolicy", "Principal", "ServiceContext"]


@dataclass(frozen=True)
class LifecyclePolicy:
    """How credentials are kept fresh (DESIGN.md §8; SECURITY.md §3.2), from the settings.

    The lease outlives the whole refresh deadline: every attempt's timeout plus the longest
    backoff between them plus a margin (SECURITY.md §3.2 item 2), so two refreshes of one
    credential can never be in flight at once.
    """

    provider_timeout: float = 10.0  # seconds per provider request (connect + read)
    attempts: int = 3  # token requests per lease for transient failures
    backoff_base: float = 0.5
    backoff_cap: float = 5.0
    keepalive: timedelta | None = timedelta(hours=24)
    exhausted_after: timedelta = timedelta(hours=96)
    cooldown: timedelta = timedelta(seconds=30)  # after a failed refresh, before the next one
    hard_margin: timedelta = timedelta(seconds=30)  # on-demand callers refresh inside this
    refresh_window: timedelta = timedelta(minutes=5)  # background refresh jitter window
    lease_margin: float = 15.0  # seconds the lease outlives the refresh deadline

    @property
    def lease(self) -> timedelta:
        deadline = self.attempts * self.provider_timeout + (self.attempts - 1) * self.backoff_cap
        # one more request for the lost-response retry of R-07, and a margin
        return timedelta(seconds=deadline + self.provider_timeout + self.lease_margin)


@dataclass(frozen=True)
class ServiceContext:
    db: Database
    sealer: Sealer
    catalog: Catalog = field(default_factory=Catalog)  # the YAML catalog; see services.catalog
    clock: Clock = field(default_factory=SystemClock)
    audit: AuditTrail = field(default_factory=lambda: AuditTrail(None))
    api_token_lifetime_seconds: int = 14 * 24 * 3600
    signin_token_lifetime_seconds: int = 300
    allowed_target_origins: tuple[str, ...] = ()  # from settings; unioned with the database's
    allow_insecure_http: bool = False  # http:// on loopback (development, tests)
    service_url: str = "http://127.0.0.1:8000"  # the browser-facing base URL
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)
    transport: Transport = field(default_factory=Transport)  # the one outbound HTTP client
    flights: Flights = field(default_factory=Flights)  # in-process single flight of refreshes
    #: the lifecycle's small write transactions, batched (built from ``db`` when not given)
    writes: GroupCommit = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.writes is None:
            object.__setattr__(self, "writes", GroupCommit(self.db))

    @property
    def redirect_uri(self) -> str:
        """The one redirect URI registered at every provider (DESIGN.md §7)."""
        return f"{self.service_url.rstrip('/')}/connector/callback"


@dataclass(frozen=True)
class Principal:
    """Who is calling the partner API: an API client, possibly restricted to one account."""

    client_id: str
    account_id: str | None = None  # a token restricted by scope=account:{id} or a password grant
    username: str | None = None

    @property
    def actor(self) -> str:
        return f"apiclient:{self.client_id}"
