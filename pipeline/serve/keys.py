"""Make API keys and the lines of ``serve.api_keys_file``.

    python -m pipeline.serve.keys new                       # a new random key, on stdout
    python -m pipeline.serve.keys hash --name alice < key   # its line: "<sha256 hex> alice"

Give the key to the client and append the hash line to the keys file: the server keeps only
hashes (pipeline/serve/auth.py). ``hash`` reads the key from stdin (or asks without echo on a
terminal) so it never lands in the shell's history; a key is never logged.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import secrets
import sys

from pipeline.serve.auth import hash_key

logger = logging.getLogger("pipeline.serve.keys")

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def new_key() -> str:
    """A random key: 32 bytes from the OS's generator, URL-safe text."""
    return secrets.token_urlsafe(32)


def key_line(key: str, name: str | None = None) -> str:
    """The keys file's line for ``key``: its hash, then its name when given."""
    return f"{hash_key(key)} {name}" if name else hash_key(key)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description="Make API keys and serve.api_keys_file lines.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("new", help="print a new random key")
    hashing = verbs.add_parser("hash", help="print the keys-file line of the key on stdin")
    hashing.add_argument("--name", help="the key's name in the access log (e.g. the client)")
    args = parser.parse_args(argv)
    if args.verb == "new":
        sys.stdout.write(new_key() + "\n")
        return 0
    if args.name is not None and not NAME.fullmatch(args.name):
        logger.error("--name must be 1-64 of A-Z a-z 0-9 . _ @ -")
        return 2
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        logger.error("no key given on stdin: pipe one in, e.g. from `... keys new`")
        return 2
    sys.stdout.write(key_line(key, args.name) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
