"""`python -m pipeline.export`: runs pipeline/export/stage.py."""

from pipeline.cli import interrupt_exits_130

with interrupt_exits_130():  # SIGTERM while the stage's modules import exits 130 as well
    from pipeline.export.stage import main

    if __name__ == "__main__":
        raise SystemExit(main())
