"""``python -m pipeline.tasks.generation``: the generate command (cli.py)."""

from pipeline.tasks.generation.cli import main

raise SystemExit(main())
