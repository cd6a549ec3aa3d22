"""mail-mcp: an MCP server that gives LLM agents safe, fast access to real mailboxes over IMAP and SMTP."""

__version__ = "0.1.0"
