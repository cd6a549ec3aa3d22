"""Network plumbing below IMAP and SMTP: proxies. Knows nothing of MCP or tools."""
