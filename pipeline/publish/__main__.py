"""`python -m pipeline.publish`: runs pipeline/publish/stage.py."""

from pipeline.publish.stage import main

if __name__ == "__main__":
    raise SystemExit(main())
