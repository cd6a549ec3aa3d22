"""The sandbox: a private, throwaway Dovecot with sample mail, for `mail-mcp sandbox` and the test suite."""

from mail_mcp.sandbox.dovecot import Sandbox, SandboxError, SandboxUser, Security
from mail_mcp.sandbox.sample import SAMPLE_COUNTS, SAMPLE_FOLDERS, SAMPLE_SUBJECTS

__all__ = [
    "SAMPLE_COUNTS",
    "SAMPLE_FOLDERS",
    "SAMPLE_SUBJECTS",
    "Sandbox",
    "SandboxError",
    "SandboxUser",
    "Security",
]
