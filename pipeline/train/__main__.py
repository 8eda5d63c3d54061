"""`python -m pipeline.train`: runs pipeline/train/stage.py."""

from pipeline.train.stage import main

if __name__ == "__main__":
    raise SystemExit(main())
