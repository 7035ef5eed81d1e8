"""Request and response shapes of the partner API (Cyclr's PascalCase names)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tokenward.domain.binding import CyclrModel, LaxText

__all__ = ["AccountIn", "AccountOut", "MessageOut", "SignInTokenIn", "SignInTokenOut", "UserIn"]


class AccountIn(CyclrModel):
    Id: LaxText | None = Field(None, max_length=200, description="API ID; generated if absent")
    Name: LaxText | None = Field(None, max_length=500)
    Description: LaxText | None = Field(None, max_length=10_000)
    Timezone: LaxText | None = Field(None, max_length=100, description="IANA name")


class AccountOut(BaseModel):
    Id: str
    Name: str
    Description: str | None
    Timezone: str | None
    CreatedDate: str


class UserIn(CyclrModel):
    UserName: LaxText | None = Field(None, max_length=200)
    Password: LaxText | None = Field(None, max_length=1000)


class SignInTokenIn(CyclrModel):
    Username: LaxText | None = Field(None, max_length=200)


class SignInTokenOut(BaseModel):
    Token: str
    ExpiresAtUtc: str


class MessageOut(BaseModel):
    Message: str
