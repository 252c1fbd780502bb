"""``python -m spoc_asgi``: the ``spoc-asgi`` command line."""

from spoc_asgi.cli import main

raise SystemExit(main())
