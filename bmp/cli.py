"""The command line: ``python -m bmp COMMAND [options]``, and how every entry point reports a user's mistake.

A bad argument, a missing or corrupt folder, an unknown profile or preset ends in one ``error: ...`` paragraph that
names the culprit and the fix, and a non-zero exit: never a Python traceback. Bugs still raise.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

COMMANDS = {  # command -> (module with main(argv), one line of help)
    "finetune": ("bmp.training.finetune", "fine-tune the dense teacher"),
    "prune": ("bmp.training.prune", "prune a copy of the teacher with movement scores"),
    "finalize": ("bmp.training.finalize", "pack a pruned model, time it, fill it (hybrid-filled)"),
    "control": ("bmp.training.control", "the dense control: the teacher trained as long, with the same distillation"),
    "layer-drop": ("bmp.training.layer_drop", "the DistilBERT recipe: keep some layers, distil"),
    "torch-pruning": ("bmp.training.peer", "the peer baseline: Torch-Pruning heads and neurons, distilled as long"),
    "rescore": ("bmp.training.rescore", "re-score a recorded model from its folder, saving its per-question answers"),
    "ship": ("bmp.training.ship", "held-out F1 of a model in torch fp32, ONNX Runtime fp32 and int8, recorded"),
    "sweep": ("bmp.training.sweep", "several pruning runs in a row, each recorded"),
    "expected": ("bmp.results.expected", "what make course should reach: the course's default run at its recorded "
                                         "seeds (adopt: record make course's own run)"),
    "summary": ("bmp.results.summary", "the README's results block and figures, from the records"),
    "course": ("bmp.course.runner", "run the notebooks in order, headless"),
}


class UserError(Exception):
    """A mistake the user can fix (bad input, missing file); the message names the culprit and the fix."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from bmp.pruning.anatomy import UnsupportedModelError

    return (UserError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
            UnsupportedModelError)


def run(main: Callable, argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; a user's mistake prints ``error: ...`` on stderr and returns 2."""
    try:
        result = main(argv)
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume from the newest checkpoint", file=sys.stderr)
        return 130
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


def usage() -> str:
    lines = ["usage: python -m bmp COMMAND [options]   (python -m bmp COMMAND --help for its options)", "",
             "commands:"]
    width = max(map(len, COMMANDS))
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "benchmarks: python -m bmp.bench NAME"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}: choose one of {', '.join(COMMANDS)}\n\n{usage()}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    sys.argv = [f"python -m bmp {argv[0]}", *argv[1:]]  # argparse's prog, and the command records name
    return run(module.main, argv[1:])
