"""`python -m pipeline.train`: runs pipeline/train/stage.py."""

from pipeline.cli import interrupt_exits_130

with interrupt_exits_130():  # SIGTERM while the stage's modules import exits 130 as well
    from pipeline.train.stage import main

    if __name__ == "__main__":
        raise SystemExit(main())
