"""Errors the sandbox answers with, in the LINE platform's own shapes."""

from __future__ import annotations

from typing import Any


class LineApiError(Exception):
    """A Messaging API failure: rendered as ``{"message", "details"}`` with its status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body LINE sends for this error (``details`` only when non-empty)."""
        body: dict[str, Any] = {"message": self.message}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


class OAuthError(Exception):
    """A LINE Login failure: rendered as ``{"error", "error_description"}``."""

    def __init__(self, description: str, *, error: str = "invalid_request", status_code: int = 400):
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """Return the JSON body LINE Login sends for this error."""
        return {"error": self.error, "error_description": self.description}


def invalid_body(*details: tuple[str, str]) -> LineApiError:
    """Build LINE's 400 for request-body validation failures, one detail per (property, message)."""
    return LineApiError(
        400,
        f"The request body has {len(details)} error(s)",
        details=[{"message": message, "property": prop} for prop, message in details],
    )


def unauthorized() -> LineApiError:
    """Return LINE's 401 for a missing or unknown channel access token."""
    return LineApiError(
        401,
        "Authentication failed. Confirm that the access token in the authorization header"
        " is valid.",
    )


def missing_authorization() -> LineApiError:
    """Return LINE's 401 for a request without a bearer token."""
    return LineApiError(
        401,
        "Authorization header required. Must follow the scheme, "
        "'Authorization: Bearer <ACCESS TOKEN>'",
    )


def not_found(message: str = "Not found") -> LineApiError:
    """Return a 404 in LINE's error shape."""
    return LineApiError(404, message)
