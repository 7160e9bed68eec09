"""How an external failure is classified, once, at the client that saw it."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of failures talking to an external system."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetriableError(ConnectorError):
    """Worth trying again later: 429, 5xx, timeouts, throttling."""


class FatalError(ConnectorError):
    """Will fail the same way again: other 4xx, bad credentials, bad request."""


class SkippableRecord(ConnectorError):
    """One record cannot be used; log it and go on with the rest."""


class LimitExhausted(RetriableError):
    """The source's allowance is used up (e.g. Salesforce REQUEST_LIMIT_EXCEEDED): pause the
    connection until ``resume_at`` instead of retrying in a loop."""

    def __init__(self, message: str, *, resume_at: object, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.resume_at = resume_at
