"""Domain errors: what services raise when a rule refuses something.

A service knows nothing of HTTP, but every refusal has a status a client can act on, a message a
person can read and, where one input is at fault, the field it names. One handler
(``service.common.problems``) turns any of them into RFC 9457 problem+json; no route catches and
re-raises them. Raise the subclass that says why (``NotFound``, ``Conflict``, ...) where one fits.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refusal with its status, a readable message and, where one input is at fault, its field.

    ``headers`` carries what the answer must say besides the body (``Retry-After`` on 429, a
    ``WWW-Authenticate`` challenge on 401); ``extra`` adds members to the problem body.
    """

    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status  # type: ignore[misc]  # an instance may narrow its class's status
        self.headers = headers
        self.extra = extra

    @property
    def detail(self) -> str:
        return self.message


class Invalid(DomainError):
    """The input breaks a rule (422)."""

    status = 422


class NotAuthenticated(DomainError):
    """No valid credentials (401)."""

    status = 401


class Forbidden(DomainError):
    """The caller may not do this (403)."""

    status = 403


class NotFound(DomainError):
    """The thing asked for does not exist, or the caller may not know it does (404)."""

    status = 404


class Conflict(DomainError):
    """The state of what is stored does not allow this now (409)."""

    status = 409


class PreconditionFailed(DomainError):
    """The caller's version (If-Match) is not the stored one (412)."""

    status = 412


class TooLarge(DomainError):
    """The input is over a size limit (413)."""

    status = 413


class UnsupportedMedia(DomainError):
    """The input is not in a format this accepts (415)."""

    status = 415


class PreconditionRequired(DomainError):
    """The change needs a version (If-Match) and none was sent (428)."""

    status = 428


class TooManyRequests(DomainError):
    """A rate limit was reached (429); ``retry_after`` seconds go into ``Retry-After``."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, field: str | None = None, **extra: Any) -> None:
        super().__init__(
            f"{message}; try again in {retry_after} s",
            field=field,
            headers={"Retry-After": str(retry_after)},
            **extra,
        )
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A part the answer needs is away (503)."""

    status = 503
