"""Private Cyrus IMAP and Courier-IMAP servers for tests, run from `scripts/install-test-servers`' cache."""
