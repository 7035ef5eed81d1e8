"""Domain objects to Cyclr-shaped JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tokenward.domain.models import Account

__all__ = ["account", "utc"]


def utc(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as Cyclr writes dates."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def account(item: Account) -> dict[str, Any]:
    return {
        "Id": item.id,
        "Name": item.name,
        "Description": item.description,
        "Timezone": item.timezone,
        "CreatedDate": utc(item.created_utc),
    }
