"""The package's shape: the top level is the reading path, imports form no cycle, and no module
reaches into another's private names; it imports only the standard library.  Also keeps docs/layout.md's
map equal to the files."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "potatogpt"

# What a learner reads, in reading order (docs/layout.md explains each); everything else is in a
# subpackage named for what it holds.
READING_PATH = ["tensor", "config", "model", "tokenizer", "sampling", "api", "instruments",
                "backward", "train", "learn_bpe", "dataset"]
ENTRY_POINTS = ["__init__", "__main__"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imported_modules(name: str) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the module, at any depth
    (inside functions too)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "potatogpt":
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module is not None and node.module.split(".")[0] == "potatogpt":
                target = node.module
            else:
                continue
            names = [alias.name for alias in node.names]
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            for sub in submodules:
                yield f"{target}.{sub}", [], node.lineno
            rest = [n for n in names if n not in submodules]
            if rest:
                yield target, rest, node.lineno


def import_graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in imported_modules(name)} for name in MODULES}


def test_every_import_names_a_module_of_the_package() -> None:
    for name in MODULES:
        for target, _, line in imported_modules(name):
            assert target in MODULES, f"{MODULES[name]}:{line} imports {target}, which is no module here"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path a -> ... -> a in the graph, or None (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)) is not None:
            return cycle
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"x": {"x"}}) == ["x", "x"]


def test_no_module_imports_another_modules_private_names() -> None:
    for name in MODULES:
        for target, names, line in imported_modules(name):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{MODULES[name]}:{line} imports {private} from {target}"
            assert not target.rpartition(".")[2].startswith("_"), f"{MODULES[name]}:{line} imports private {target}"


def test_no_module_reads_private_attributes_of_another_module() -> None:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if is_package(name) else name.rpartition(".")[0]
        bound: set[str] = set()  # names that stand for one of the package's modules here
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                bound.update(alias.asname or alias.name for alias in node.names if f"{target}.{alias.name}" in MODULES)
            elif isinstance(node, ast.Import):
                bound.update(alias.asname for alias in node.names if alias.asname and alias.name in MODULES)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                raise AssertionError(f"{path}:{node.lineno} reads {node.value.id}.{node.attr}")


def test_the_top_level_is_the_reading_path() -> None:
    top = sorted(path.stem for path in PACKAGE.glob("*.py"))
    extra = [stem for stem in top if stem not in READING_PATH + ENTRY_POINTS]
    assert not extra, f"potatogpt/ holds {extra}, which are not on the reading path: move them into a subpackage"
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == ["cli", "convert", "data", "fast", "pages", "weights"]


def test_the_layout_map_lists_every_module() -> None:
    text = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`(potatogpt/[\w/]+\.py)`", text))
    actual = {str(path.relative_to(ROOT)) for path in MODULES.values()}
    assert listed == actual, (f"docs/layout.md lacks {sorted(actual - listed)} and lists {sorted(listed - actual)}, "
                              "which do not exist")


# --- Only the standard library at run time ----------------------------------------------------
def test_package_imports_only_the_standard_library() -> None:
    modules = "potatogpt, potatogpt.tokenizer, potatogpt.cli, potatogpt.convert.export, potatogpt.convert.download"
    code = f"import sys, {modules}; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout.split()
    # (__mp_main__ is multiprocessing's name for the main module, not a package.)
    allowed = {*sys.stdlib_module_names, "__main__", "__mp_main__", "potatogpt"}
    outside = [m for m in loaded if m.split(".")[0] not in allowed]
    assert outside == []


def test_test_modules_import_only_helpers() -> None:
    """Shared test code lives in tests/helpers.py; no test module imports another."""
    tests = ROOT / "tests"
    siblings = {path.stem for path in tests.glob("test_*.py")}
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if node.module else [])
            imported = [n for n in names if n.split(".")[0] in siblings]
            assert not imported, f"{path.relative_to(ROOT)}:{node.lineno} imports {imported}: move shared code to tests/helpers.py"
