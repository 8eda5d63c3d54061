"""`python -m pipeline.sweep`: runs pipeline/sweep/stage.py."""

from pipeline.sweep.stage import main

if __name__ == "__main__":
    raise SystemExit(main())
