from dcgui.cli import main

raise SystemExit(main())
