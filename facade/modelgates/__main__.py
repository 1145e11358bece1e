"""``python -m modelgates``: the same as the ``modelgates`` command."""

from ._cli import main

raise SystemExit(main())
