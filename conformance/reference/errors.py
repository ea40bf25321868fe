"""Errors the reference server answers with, as values.

What lives here: `ApiError` (raised anywhere a request must fail: validation, auth, rate limit,
quirks) and `ErrorReply` (the status, body and headers about to be sent, which the `error_reply`
quirk hook may reshape). What does not: deciding that a request is invalid (validation.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "ErrorReply"]


class ApiError(Exception):
    """A request that fails with an OpenAI-shaped error (or `body`, for quirks mimicking others)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # shadows the builtin on purpose: OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        self.body = body
        self.raw: bytes | None = None  # an HTML body instead of JSON (quirks mimicking a missing route)

    def reply(self) -> ErrorReply:
        body = self.body
        if body is None:
            body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        if self.raw is not None:
            return ErrorReply(self.status, body, dict(self.headers), raw=self.raw, media_type="text/html")
        return ErrorReply(self.status, body, dict(self.headers))


@dataclass(frozen=True)
class ErrorReply:
    """An error response about to be sent. `raw` (with `media_type`) replaces the JSON body."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    media_type: str = "application/json"
