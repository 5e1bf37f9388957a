from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import bmp.bench


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bmp.bench.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m bmp.bench NAME [options]; NAME is one of: {', '.join(names)}", file=sys.stderr)
        return 2
    result = importlib.import_module(f"bmp.bench.{argv[0]}").main(argv[1:])
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
