from cachesim.cli import main

raise SystemExit(main())
