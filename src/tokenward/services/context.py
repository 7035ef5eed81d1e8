"""What every use case is given: the database, the sealer, the clock and the settings it needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenward.catalog.registry import Catalog
from tokenward.clock import Clock, SystemClock
from tokenward.crypto.aead import Sealer
from tokenward.services.audit import AuditTrail
from tokenward.services.ports import Database

__all__ = ["Principal", "ServiceContext"]


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


@dataclass(frozen=True)
class Principal:
    """Who is calling the partner API: an API client, possibly restricted to one account."""

    client_id: str
    account_id: str | None = None  # a token restricted by scope=account:{id} or a password grant
    username: str | None = None

    @property
    def actor(self) -> str:
        return f"apiclient:{self.client_id}"
