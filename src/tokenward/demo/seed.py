"""What the demo sets up through the partner API, with the Python SDK, as a partner's backend
would: the sandbox connector and its library entry (the double's client credentials), an
account, and the connector installed in it.

Run again on a kept data folder (``tokenward demo --data-dir``), it updates what is there: the
double listens on a new port and has a new client secret on every run.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from tokenward.client import BadRequest, Client
from tokenward.demo.sandbox import CONNECTOR_NAME, connector_definition
from tokenward.testing import ProviderDouble

__all__ = ["ACCOUNT_ID", "DemoSetup", "seed"]

ACCOUNT_ID = "demo"


@dataclass(frozen=True)
class DemoSetup:
    """The Ids the example host page's backend works with."""

    account_id: str
    account_connector_id: int
    method_id: int


def _connector(tw: Client, provider: ProviderDouble) -> tuple[int, int]:
    """The sandbox connector's Id and its method's Id (created, or updated to this run's URL)."""
    definition = connector_definition(provider.url)
    existing = [c for c in tw.list_connectors(query=CONNECTOR_NAME) if c["Name"] == CONNECTOR_NAME]
    if existing:
        saved = tw.update_connector(existing[0]["Id"], definition)
    else:
        saved = tw.create_connector(definition)
    return saved["Id"], saved["Methods"][0]["Id"]


def _account_connector(tw: Client, connector_id: int) -> int:
    with suppress(BadRequest):  # a kept data folder: the account is already there
        tw.create_account("Demo account", account_id=ACCOUNT_ID)
    for installed in tw.list_account_connectors(ACCOUNT_ID):
        if installed["Connector"]["Id"] == connector_id:
            return installed["Id"]
    return tw.install(ACCOUNT_ID, connector_id, name="Sandbox")["Id"]


def seed(tw: Client, provider: ProviderDouble) -> DemoSetup:
    """Set everything up; the Ids to use."""
    connector_id, method_id = _connector(tw, provider)
    double = provider.client
    tw.update_application_connector(
        connector_id, client_id=double.client_id, client_secret=double.client_secret
    )
    return DemoSetup(ACCOUNT_ID, _account_connector(tw, connector_id), method_id)
