"""The ``mfsym`` command (placeholder: the full CLI is being written, issue 5)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print("mfsym: command line being written", file=sys.stderr)
    return 0
