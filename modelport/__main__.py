"""``python -m modelport``: the same as the ``modelport`` command."""

from modelport.cli import main

raise SystemExit(main())
