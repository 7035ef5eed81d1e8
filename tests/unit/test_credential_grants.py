"""Which grant renews a credential (SECURITY.md F-07: the password grant exists only for
connectors that declare ``PasswordCredentials``; an authorization-code credential without a
refresh token cannot be renewed at all)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from tokenward.catalog.schema import Connector
from tokenward.services.credential_documents import TokenDocument
from tokenward.services.credential_leases import _grant
from tokenward.services.provider_setup import ProviderSetup


def _setup(grant: str, **knobs: Any) -> ProviderSetup:
    connector = Connector.model_validate(
        {
            "Id": 42,
            "Name": "X",
            "Version": "1",
            "BaseUrl": "https://api.example.com",
            "Authentication": [
                {
                    "Id": "6f1c2a52-0d2e-4c8e-9a59-3d7c0b4b5c11",
                    "AuthName": "OAuth",
                    "AuthType": "OAuth2",
                    "OAuth2Type": grant,
                    "AuthoriseUrl": "https://idp.example.com/authorize",
                    "AccessTokenUrl": "https://idp.example.com/token",
                    **knobs,
                }
            ],
        }
    )
    return ProviderSetup(
        connector=connector,
        auth=connector.default_auth,
        client_id="c",
        client_secret="s",
        scopes=(),
        base_url=connector.BaseUrl,
        values=MappingProxyType({"Username": "u", "Password": "p"}),
    )


WITH_REFRESH = TokenDocument(access_token="a", refresh_token="r")
ACCESS_ONLY = TokenDocument(access_token="a")


@pytest.mark.parametrize(
    ("grant", "document", "expected"),
    [
        ("AuthorisationCode", WITH_REFRESH, "refresh_token"),
        ("AuthorisationCode", ACCESS_ONLY, None),  # never the password grant
        ("ClientCredentials", ACCESS_ONLY, "client_credentials"),
        ("PasswordCredentials", ACCESS_ONLY, "password"),
        ("PasswordCredentials", WITH_REFRESH, "refresh_token"),
    ],
)
def test_f07_the_password_grant_only_for_password_connectors(
    grant: str, document: TokenDocument, expected: str | None
) -> None:
    assert _grant(_setup(grant), document) == expected


def test_no_refresh_knob_never_refreshes() -> None:
    assert _grant(_setup("AuthorisationCode", NoRefresh=True), WITH_REFRESH) is None
