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
    "ErrorInBodyRule",
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
    #: whose access token the call carries: the credential's own (``primary``) or the second
    #: set a hook keeps beside it (``secondary``, e.g. a user token next to an app token)
    TokenSet: Literal["primary", "secondary"] = "primary"


_QUERY_NAME = r"^[A-Za-z0-9_.\-\[\]~]{1,100}$"
_DOTTED_PATH = r"^[A-Za-z0-9_\-]{1,100}(\.[A-Za-z0-9_\-]{1,100}){0,7}$"


class ErrorInBodyRule(CatalogModel):
    """One way a provider reports a token-endpoint failure the status code hides (QUIRKS.md
    ``ErrorInBody``): an answer with a status in ``Status`` whose ``ErrorField`` (a dotted path;
    omitted: the status alone) holds one of ``Values`` (empty: any non-empty value) fails with
    ``Outcome``: ``invalid_grant`` → needs_reauth, ``temporary`` → retried, ``config`` →
    error_config."""

    Status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    ErrorField: str | None = Field("error", pattern=_DOTTED_PATH)
    Values: list[LaxText] = Field(default_factory=list)
    Outcome: Literal["invalid_grant", "temporary", "config"] = "invalid_grant"

    @field_validator("Status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        if any(not 100 <= code <= 599 for code in value):
            raise ValueError("Status codes must be between 100 and 599")
        return value


class _AuthBase(CatalogModel):
    Id: UUID
    AuthName: str = Field(min_length=1, max_length=200)
    AuthDescription: str | None = None
    AuthScheme: str | None = Field(None, description="header carrying the credential")
    AuthFormat: str | None = Field(None, description="header value template")


# The standard authorization-request names a provider may call something else.
_RENAMEABLE = ("client_id", "redirect_uri", "response_type", "scope", "state")
_SEPARATORS = {"space": " ", "comma": ",", "plus": "+"}


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
    ScopeSeparator: str = Field(" ", min_length=1, max_length=3)
    ScopeEncoding: Literal["encoded", "unencoded"] = "encoded"
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
    ReauthOnExpiry: bool = False
    CodeParam: str = Field("code", pattern=_QUERY_NAME)
    AuthoriseUrlRenames: dict[str, str] = Field(default_factory=dict)
    CallbackMetadata: list[Annotated[str, Field(pattern=_QUERY_NAME)]] = Field(default_factory=list)
    TokenMetadata: list[Annotated[str, Field(pattern=_DOTTED_PATH)]] = Field(default_factory=list)
    AccessTokenPath: str | None = Field(None, pattern=_DOTTED_PATH)
    ExpiresInUnit: Literal["seconds", "milliseconds", "minutes", "hours"] = "seconds"
    RefreshExpiresInField: str | None = Field(None, pattern=_DOTTED_PATH)
    RefreshMargin: int | None = Field(None, ge=0, description="seconds before expiry")
    ErrorInBody: list[ErrorInBodyRule] = Field(default_factory=list)
    TokenTypes: list[str] = Field(default_factory=lambda: ["bearer"], min_length=1)
    Hook: str | None = Field(None, description="name of a hook in catalog/hooks.py")
    HookSettings: dict[str, LaxText] = Field(default_factory=dict)

    @field_validator("ScopeSeparator", mode="before")
    @classmethod
    def _separator(cls, value: Any) -> Any:
        return _SEPARATORS.get(value, value) if isinstance(value, str) else value

    @field_validator("AuthoriseUrlRenames")
    @classmethod
    def _renames(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            if source not in _RENAMEABLE:
                raise ValueError(f"AuthoriseUrlRenames may rename only {', '.join(_RENAMEABLE)}")
            if not re.fullmatch(_QUERY_NAME, target):
                raise ValueError(f"AuthoriseUrlRenames: {target!r} is not a query parameter name")
        return value

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
    CallHeaders: dict[str, str] = Field(
        default_factory=dict,
        description="headers sent on every method and proxy call; values may hold {{Property}} "
        "merge fields (a header whose property is not set yet is left out)",
    )

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
