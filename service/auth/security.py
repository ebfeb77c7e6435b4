"""Password hashing (Argon2 via pwdlib) and signed bearer tokens (JWT, HS256, with the key's id)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from service.auth.keys import key_id

_hasher = PasswordHash.recommended()
_ALGORITHM = "HS256"
_AUDIENCE = "neighborgrid"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # malformed hash: never a match
        return False


#: A hash to verify against when the user does not exist, so timing does not reveal usernames.
DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True)
class TokenClaims:
    username: str
    role: str
    issued_at: datetime
    expires_at: datetime
    token_id: str
    #: The id of the key that signed it: a long-lived holder (an open event stream) can check that
    #: the key is still current (``key_id(settings.signing_key)``) and end after a rotation.
    key_id: str = ""


class RetiredKey(jwt.InvalidTokenError):
    """The token names another signing key than the current one (rotated, or never ours)."""


def issue_token(
    *, username: str, role: str, key: str, ttl: timedelta, now: datetime | None = None, audience: str = _AUDIENCE
) -> str:
    """A signed token. Tokens live in real time (the verifier uses the system clock), never app time.

    ``audience``: who accepts it; an event-stream ticket has its own, so bearer checks refuse it.
    The header names the key (``kid``), so a token of a rotated key is refused as such."""
    now = now or datetime.now(UTC)
    claims = {
        "sub": username,
        "role": role,
        "aud": audience,
        "iat": round(now.timestamp(), 6),  # sub-second, so "sign out everywhere" is exact
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM, headers={"kid": key_id(key)})


def read_token(token: str, *, key: str, audience: str = _AUDIENCE) -> TokenClaims:
    """Decode and verify a token; raises ``jwt.PyJWTError`` when it is invalid, expired or meant for
    another ``audience`` (a bearer token is no stream ticket, and a ticket no bearer token), and
    ``RetiredKey`` when it names no key or another key than ``key``."""
    kid = key_id(key)
    if jwt.get_unverified_header(token).get("kid") != kid:
        raise RetiredKey("the token was signed with a retired or unknown key")
    data = jwt.decode(token, key, algorithms=[_ALGORITHM], audience=audience, options={"require": ["exp", "sub"]})
    return TokenClaims(
        username=data["sub"],
        role=data.get("role", ""),
        issued_at=datetime.fromtimestamp(data.get("iat", 0), UTC),
        expires_at=datetime.fromtimestamp(data["exp"], UTC),
        token_id=data.get("jti", ""),
        key_id=kid,
    )
