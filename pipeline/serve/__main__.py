"""`python -m pipeline.serve`: runs pipeline/serve/stage.py."""

from pipeline.serve.stage import main

if __name__ == "__main__":
    raise SystemExit(main())
