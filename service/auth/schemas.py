"""What the account endpoints take and answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.auth.models import Role, User


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")
    role: Role


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str | None
    is_active: bool = True

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            display_name=user.display_name,
            is_active=user.is_active,
        )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=200)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)
