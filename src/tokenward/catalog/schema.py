"""The connector definition format (DESIGN.md §6) as Pydantic models.

Field names follow Cyclr's connector format; tokenward's knobs use the same PascalCase style.
Keys bind case-insensitively (definitions also arrive as JSON through the API) but unknown keys
are errors, so a typo in a knob never passes silently. ``Authentication`` entries are a
discriminated union on ``AuthType``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from tokenward.domain.binding import CyclrModel, LaxText

__all__ = [
    "MERGE_FIELD",
    "ApiKeyAuth",
    "AuthenticationEntry",
    "BasicAuth",
    "Connector",
    "Method",
    "MethodParameter",
    "NoAuth",
    "OAuth1Auth",
    "OAuth2Auth",
    "Parameter",
]

MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
HTTP_METHODS = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
TARGET_TYPES = Literal["MergeField", "QueryString", "Body", "Header", "Script"]


class CatalogModel(CyclrModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _check_pattern(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"Pattern is not a valid regular expression: {exc}") from None
    return value


class Parameter(CatalogModel):
    """A connector-level parameter; ``IsAccountConnectorProperty`` ones are properties."""

    Id: int | None = Field(None, ge=1)
    Name: str = Field(min_length=1, max_length=200)
    Description: str | None = None
    TargetType: TARGET_TYPES = "MergeField"
    TargetName: str | None = Field(None, max_length=200)
    IsAccountConnectorProperty: bool = True
    IsOptional: bool = False
    IsSensitive: bool = False
    DataType: str = "Text"
    Pattern: str | None = None
    Default: LaxText | None = None
    Values: list[LaxText] = Field(default_factory=list)

    _pattern = field_validator("Pattern")(_check_pattern)

    @property
    def property_name(self) -> str:
        """The name an account connector property carries (Cyclr matches on TargetName)."""
        return self.TargetName or self.Name


class MethodParameter(CatalogModel):
    Id: int = Field(ge=1)
    Name: str = Field(min_length=1, max_length=200)
    Description: str | None = None
    TargetType: TARGET_TYPES = "QueryString"
    TargetName: str | None = Field(None, max_length=200)
    IsOptional: bool = True
    DataType: str = "Text"
    Pattern: str | None = None
    Default: LaxText | None = None

    _pattern = field_validator("Pattern")(_check_pattern)


class Method(CatalogModel):
    Id: int = Field(ge=1)
    Name: str = Field(min_length=1, max_length=200)
    MethodUniqueIdentifier: UUID
    Description: str | None = None
    Category: str | None = None
    HttpMethod: HTTP_METHODS = "GET"
    EndPoint: str = Field(min_length=1)
    DataType: Literal["Json", "Form", "Xml"] = "Json"
    Parameters: list[MethodParameter] = Field(default_factory=list)


class _AuthBase(CatalogModel):
    Id: UUID
    AuthName: str = Field(min_length=1, max_length=200)
    AuthDescription: str | None = None
    AuthScheme: str | None = Field(None, description="header carrying the credential")
    AuthFormat: str | None = Field(None, description="header value template")


class OAuth2Auth(_AuthBase):
    AuthType: Literal["OAuth2"]
    OAuth2Type: Literal["AuthorisationCode", "ClientCredentials", "PasswordCredentials"] = (
        "AuthorisationCode"
    )
    AuthoriseUrl: str | None = None
    AccessTokenUrl: str
    RefreshTokenUrl: str | None = None
    RevokeUrl: str | None = None
    Issuer: str | None = None
    Scopes: list[str] = Field(default_factory=list)
    ScopeSeparator: str = " "
    ClientAuthMethod: Literal["client_secret_basic", "client_secret_post", "none"] = (
        "client_secret_basic"
    )
    TokenBodyFormat: Literal["form", "json"] = "form"
    Pkce: Literal["S256", "none"] = "S256"
    AuthoriseParams: dict[str, LaxText] = Field(default_factory=dict)
    TokenParams: dict[str, LaxText] = Field(default_factory=dict)
    RefreshParams: dict[str, LaxText] = Field(default_factory=dict)
    DefaultExpiresIn: int | None = Field(None, ge=1)
    NoRefresh: bool = False
    Hook: str | None = Field(None, description="name of a hook in catalog/hooks.py")

    @model_validator(mode="after")
    def _code_flow_needs_authorise_url(self) -> OAuth2Auth:
        if self.OAuth2Type == "AuthorisationCode" and not self.AuthoriseUrl:
            raise ValueError("AuthoriseUrl is required when OAuth2Type is AuthorisationCode")
        return self


class OAuth1Auth(_AuthBase):
    AuthType: Literal["OAuth1"]
    RequestTokenUrl: str
    AuthorizeUrl: str
    AccessTokenUrl: str
    SignatureMethod: Literal["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"] = "HMAC-SHA1"
    Hook: str | None = None


class ApiKeyAuth(_AuthBase):
    AuthType: Literal["ApiKey"]


class BasicAuth(_AuthBase):
    AuthType: Literal["Basic"]


class NoAuth(_AuthBase):
    AuthType: Literal["None"]


def _auth_type(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() == "authtype":
                return str(item)
        return None
    return getattr(value, "AuthType", None)


AuthenticationEntry = Annotated[
    Annotated[OAuth2Auth, Tag("OAuth2")]
    | Annotated[OAuth1Auth, Tag("OAuth1")]
    | Annotated[ApiKeyAuth, Tag("ApiKey")]
    | Annotated[BasicAuth, Tag("Basic")]
    | Annotated[NoAuth, Tag("None")],
    Discriminator(
        _auth_type,
        custom_error_type="invalid_auth_type",
        custom_error_message="AuthType must be OAuth2, OAuth1, ApiKey, Basic or None",
    ),
]


class Connector(CatalogModel):
    Id: int = Field(ge=1)
    Name: str = Field(min_length=1, max_length=200)
    Version: str = Field(min_length=1, max_length=50)
    Description: str | None = None
    Icon: str | None = None
    Status: str = "Approved"
    Categories: list[str] = Field(default_factory=list)
    DocumentationUrl: str | None = None
    BaseUrl: str = Field(min_length=1)
    Parameters: list[Parameter] = Field(default_factory=list)
    Authentication: list[AuthenticationEntry] = Field(min_length=1)
    Methods: list[Method] = Field(default_factory=list)

    @property
    def default_auth(self) -> OAuth2Auth | OAuth1Auth | ApiKeyAuth | BasicAuth | NoAuth:
        return self.Authentication[0]

    def auth(self, auth_id: UUID | str | None) -> Any:
        """The authentication entry with this Id (the first when None); None if unknown."""
        if auth_id is None:
            return self.default_auth
        for entry in self.Authentication:
            if str(entry.Id).lower() == str(auth_id).lower():
                return entry
        return None

    def property_parameters(self) -> list[Parameter]:
        return [p for p in self.Parameters if p.IsAccountConnectorProperty]

    def method(self, ref: str) -> Method | None:
        """A method by integer Id or MethodUniqueIdentifier."""
        for method in self.Methods:
            if ref.isdigit() and method.Id == int(ref):
                return method
            if str(method.MethodUniqueIdentifier).lower() == ref.lower():
                return method
        return None
