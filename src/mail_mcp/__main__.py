from mail_mcp.cli import main

raise SystemExit(main())
