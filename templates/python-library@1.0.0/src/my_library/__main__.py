"""Command line: python -m my_library NAME."""

from __future__ import annotations

import sys

from my_library.core import greet


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m my_library NAME", file=sys.stderr)
        return 2
    print(greet(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
