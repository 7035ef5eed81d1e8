"""Account connectors: connectors installed into an account (``/v1.0/account/connectors``).

The use cases live in two modules — :mod:`~tokenward.services.account_connector_views` (the
response view, list, get) and :mod:`~tokenward.services.account_connector_changes` (partial
update, deauthenticate, delete) — and are re-exported here, the name routes and tests import.
"""

from __future__ import annotations

from tokenward.services.account_connector_changes import (
    AccountConnectorChanges,
    deauthenticate,
    delete_account_connector,
    parse_optional_auth_value,
    update_account_connector,
    valid_description,
    valid_name,
)
from tokenward.services.account_connector_views import (
    AccountConnectorView,
    get_account_connector,
    list_account_connectors,
    load_account_connector,
    view_of,
)

__all__ = [
    "AccountConnectorChanges",
    "AccountConnectorView",
    "deauthenticate",
    "delete_account_connector",
    "get_account_connector",
    "list_account_connectors",
    "load_account_connector",
    "parse_optional_auth_value",
    "update_account_connector",
    "valid_description",
    "valid_name",
    "view_of",
]
