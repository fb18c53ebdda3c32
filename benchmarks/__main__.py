"""``python -m benchmarks NAME [options]``: run one benchmark (``benchmarks/NAME.py``'s ``main``)."""
from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from benchmarks import NAMES


def _usage() -> str:
    """The list of benchmarks with each module's first doc line (read, not imported: --help stays fast)."""
    lines = ["usage: python -m benchmarks NAME [options]   (python -m benchmarks NAME --help for its options)", "",
             "benchmarks:"]
    for name in NAMES:
        source = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
        doc = (ast.get_docstring(ast.parse(source)) or "").splitlines()
        lines.append(f"  {name:8} {doc[0].split(': ``')[0] if doc else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its benchmark module; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in NAMES:
        print(f"unknown benchmark {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(f"benchmarks.{name}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
