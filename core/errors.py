"""Domain errors that carry their HTTP meaning; one handler renders them as JSON."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub reports to a caller: ``{"error": <class>, "detail": …}``."""

    status_code: int = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def code(self) -> str:
        return type(self).__name__


class BadRequest(HubError):
    status_code = 400


class Unauthorized(HubError):
    status_code = 401


class Forbidden(HubError):
    status_code = 403


class NotFound(HubError):
    status_code = 404


class Conflict(HubError):
    status_code = 409


class Gone(HubError):
    status_code = 410


class PayloadTooLarge(HubError):
    status_code = 413


class Unprocessable(HubError):
    status_code = 422


class NotSetUp(Conflict):
    """What the caller reached is not set up yet (a channel without its LIFF app, a connection
    without its secret). The caller, often anonymous, is told only that; ``hint``, how to set
    it up, goes to the hub's log for the shop's engineers."""

    def __init__(self, detail: str, *, hint: str) -> None:
        super().__init__(detail)
        self.hint = hint


class TooManyAttempts(HubError):
    status_code = 429


class ConfigurationError(HubError):
    """The hub is set up in a way that cannot work; the message says what to change."""

    status_code = 500


class InvalidSignature(Unauthorized):
    """A webhook whose signature is missing or does not match its body; nothing was stored."""
