"""`mail-mcp account`: add, sign in, list, test and remove accounts; secrets go to the OS keyring."""
