"""Signing in: OAuth2 tokens and login flows, and where secrets are kept. Knows nothing of MCP or tools."""
