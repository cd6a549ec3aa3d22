"""Typed domain errors. Each carries a stable code, a message that says what to do next, and details.

Nothing here may hold a secret: messages and details reach the model verbatim.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorCode = Literal[
    "invalid_input",
    "not_found",
    "stale_id",
    "write_disabled",
    "auth_failed",
    "connection_failed",
    "timeout",
    "unsupported",
    "server_error",
    "bad_response",
    "outcome_unknown",
    "throttled",
]


class MailError(Exception):
    """Base of every error this server reports to a caller."""

    code: ErrorCode = "server_error"
    # Set by the IMAP pool on a failed job: whether a mailbox-changing command may have reached the server.
    write_sent: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(MailError):
    code = "invalid_input"


class NotFound(MailError):
    code = "not_found"


class StaleId(MailError):
    code = "stale_id"


class WriteDisabled(MailError):
    code = "write_disabled"


class AuthFailed(MailError):
    code = "auth_failed"


class ConnectionFailed(MailError):
    code = "connection_failed"


class Timeout(MailError):
    code = "timeout"


class Unsupported(MailError):
    code = "unsupported"


class ServerError(MailError):
    code = "server_error"


class BadResponse(MailError):
    """The server answered, but its answer could not be parsed (not a refusal)."""

    code = "bad_response"


class Throttled(MailError):
    """The provider is rate-limiting this account (Microsoft 365: "Request is throttled"); nothing was done.
    `details.retry_after_seconds` says how long it asked us to wait."""

    code = "throttled"


class OutcomeUnknown(MailError):
    """A write may or may not have happened (its reply was lost and it could not be checked); the details
    say what to look for."""

    code = "outcome_unknown"


class ConfigError(Exception):
    """A configuration problem found at start-up; names the offending setting."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem
