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
    usage = f"usage: python -m bmp.bench NAME [options] [--record]; NAME is one of: {', '.join(names)}"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stderr)
        return 0 if argv else 2
    if argv[0] not in names:
        print(f"error: unknown benchmark {argv[0]!r}: choose one of {', '.join(names)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bmp.bench.{argv[0]}")
    # --record stores the result in data/results with its provenance; a bench that writes its own records
    # (one per hardware and dtype, say) gets the flag itself
    keep = "--record" in argv and not getattr(module, "RECORDS_ITSELF", False)
    if keep:
        argv = [a for a in argv if a != "--record"]
        # a bench whose record the targets read may refuse settings that would record something else under its name
        refusal = getattr(module, "unrecordable", lambda args: None)(argv[1:])
        if refusal:
            print(f"error: --record {refusal}", file=sys.stderr)
            return 2
    from bmp.cli import run

    results = []
    code = run(lambda args: results.append(module.main(args)), argv[1:])
    if code:
        return code
    result = results[0]
    if keep:
        from bmp.results.records import provenance, record

        base = result.get("base", "embedded") if isinstance(result, dict) else "embedded"
        record(argv[0], "bench", result, provenance(base_model=base, data_split="synthetic tokens", profile="bench"))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
