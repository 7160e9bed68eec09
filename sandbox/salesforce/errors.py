"""Salesforce's error shapes: REST errors are a JSON array of ``{"message", "errorCode"}``;
the OAuth token endpoint answers ``{"error", "error_description"}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST API error, rendered as ``[{"message": …, "errorCode": …}]``."""

    def __init__(self, status: int, code: str, message: str, *, fields: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]


class OAuthError(Exception):
    """A token endpoint refusal (HTTP 400 unless said otherwise)."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def session_invalid() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def limit_exceeded() -> ApiError:
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
