"""`python -m pipeline.evaluate`: runs pipeline/evaluate/stage.py."""

from pipeline.evaluate.stage import main

if __name__ == "__main__":
    raise SystemExit(main())
