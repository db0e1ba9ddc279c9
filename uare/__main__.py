from uare.cli import main

raise SystemExit(main())
