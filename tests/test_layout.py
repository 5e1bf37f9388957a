"""The tree is the map: each subpackage of bmp is a pipeline stage, and these import rules keep it one.

Every import is read from the source (lazy ones inside functions included), so a rule can't be dodged by moving an
import into a function body. The rules are read from the README's layout table, its one statement; the notebooks
and scripts obey them too, and no two modules import each other, directly or round a loop.
"""
import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bmp"
STAGES = ("pruning", "packing", "squad", "training", "speed", "results", "course", "bench", "deploy")
MAX_LINES = 400
MAX_TOP_LEVEL = 6



def table_rules() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(allowed, never)`` from the README's layout table: "nothing else", a list of stages, "anything but X",
    "never X, Y", or "anything" in its third column."""
    allowed, never = {}, {}
    for line in (REPO / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`") or not cells[0].endswith("/`"):
            continue
        stage, rule = cells[0].strip("`/"), cells[2].replace("`", "")
        if stage not in STAGES:  # the header row
            continue
        names = set(re.findall(r"[a-z]+", rule.split(";")[0])) & set(STAGES)
        if rule.startswith("nothing else"):
            allowed[stage] = set()
        elif rule.startswith(("anything but", "never")):
            never[stage] = names
        elif not rule.startswith("anything"):
            allowed[stage] = names
    return allowed, never


ALLOWED, NEVER = table_rules()
EXTRA_NEVER = {"notebooks": {"bench"}, "scripts": set()}  # the course imports no benchmark; scripts run anything


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def stage_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def bmp_imports(path: Path) -> set[str]:
    """Every ``bmp.<x>`` this file imports, anywhere in it (``x`` is a stage or a top-level module)."""
    return {name.split(".")[1] for name in imported_modules(path) if name.count(".") >= 1}


def is_module(dotted: str) -> bool:
    path = PACKAGE.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or path.is_dir()


def imported_modules(path: Path) -> set[str]:
    """Every ``bmp.x[.y]`` module this file imports, anywhere but under ``if TYPE_CHECKING:`` (never run)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(child) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for child in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import; bmp uses absolute imports (from bmp.x import ...)")
            names = [node.module or ""]
            if node.module and node.module.startswith("bmp"):  # from bmp.x import y: y may be a module
                names = [f"{node.module}.{alias.name}" if is_module(f"{node.module}.{alias.name}") else node.module
                         for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("bmp.")}
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
    bad.write_text("def f():\n    from bmp.training.skeleton import SEED\n    import bmp.bench.timing\n")
    assert bmp_imports(bad) == {"training", "bench"}


COURSE_FILES = sorted([*REPO.glob("notebooks/*.py"), *REPO.glob("notebooks/solutions/*.py"),
                       *REPO.glob("scripts/*.py")])


@pytest.mark.parametrize("path", COURSE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_and_scripts_obey_the_table(path):
    kind = path.parent.name if path.parent.name == "scripts" else "notebooks"
    stages = bmp_imports(path)
    assert not stages & EXTRA_NEVER[kind], f"{path.relative_to(REPO)} imports {sorted(stages & EXTRA_NEVER[kind])}"


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the bmp modules it imports (a package's ``__init__`` counts as the package)."""
    known = {module_of(path) for path in modules()}
    graph = {}
    for path in modules():
        targets = set()
        for name in imported_modules(path):
            while name not in known and "." in name:  # from bmp.x.y import z where z is a name
                name = name.rsplit(".", 1)[0]
            if name in known:
                targets.add(name)
        graph[module_of(path)] = targets - {module_of(path)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop between modules (packages' ``__init__`` re-exports left out: importing a package's own
    submodules from its ``__init__`` is how it exports them)."""
    edges = {node: {t for t in targets if not t.startswith(node + ".")} for node, targets in graph.items()}
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycles():
    loops = cycles(import_graph())
    assert not loops, "import cycles: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_cycle_check_finds_a_loop():
    loop = {"bmp.a": {"bmp.b"}, "bmp.b": {"bmp.c"}, "bmp.c": {"bmp.a"}}
    assert cycles(loop) == [["bmp.a", "bmp.b", "bmp.c", "bmp.a"]]
    assert cycles({"bmp.a": {"bmp.b"}, "bmp.b": set()}) == []


def test_the_table_states_the_rules():
    assert ALLOWED["pruning"] == set() and ALLOWED["deploy"] == {"pruning", "packing", "squad"}
    assert NEVER["results"] == {"training", "course", "bench"} and NEVER["speed"] == {"training", "course", "results"}
    assert set(ALLOWED) | set(NEVER) | {"bench"} == set(STAGES)
