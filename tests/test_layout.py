"""The tree is the map: each subpackage of bmp is a pipeline stage, and these import rules keep it one.

Every import is read from the source (lazy ones inside functions included), so a rule can't be dodged by moving an
import into a function body.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bmp"
STAGES = ("pruning", "packing", "squad", "training", "speed", "results", "course", "bench", "deploy")
MAX_LINES = 400
MAX_TOP_LEVEL = 6

# stage -> the other stages it may import (top-level modules such as bmp.models count as their own "stage")
ALLOWED = {
    "pruning": set(),
    "packing": {"pruning"},
    "squad": set(),
    "deploy": {"pruning", "packing", "squad"},
}
NEVER = {"speed": {"training", "course", "results", "bench"}}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def stage_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def bmp_imports(path: Path) -> set[str]:
    """Every ``bmp.<x>`` this file imports, anywhere in it (``x`` is a stage or a top-level module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import; bmp uses absolute imports (from bmp.x import ...)")
            names = [node.module or ""]
            if node.module == "bmp":
                names = [f"bmp.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("bmp.") and name.count(".") >= 1}
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_rules(path):
    stage = stage_of(path)
    others = bmp_imports(path) - {stage}
    if stage in ALLOWED:
        assert others <= ALLOWED[stage], f"{path.relative_to(PACKAGE)} ({stage}) imports {sorted(others)}; " \
                                         f"{stage} may import only {sorted(ALLOWED[stage]) or 'nothing else of bmp'}"
    assert not others & NEVER.get(stage, set()), f"{path.relative_to(PACKAGE)} ({stage}) imports {sorted(others)}"
    if stage != "bench":
        assert "bench" not in others, f"{path.relative_to(PACKAGE)} imports bmp.bench: nothing outside bench may"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by concept (<= {MAX_LINES})"


def test_the_top_level_is_small_and_every_stage_exists():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} top-level modules: {top}; move them into a stage"
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), f"bmp/{stage}/ is missing"


def test_the_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bmp.training.kit import SEED\n    import bmp.bench.timing\n")
    assert bmp_imports(bad) == {"training", "bench"}
