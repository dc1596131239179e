"""The one-way layout, read from the imports: contracts <- compiler, firmware, golden <- runtime <-
the command-line tool and the bench; the test folders import the product, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each top-level package's place in the stack: a package may import only packages of a lower rank.
RANK = {"atalla": 0, "compiler": 1, "firmware": 1, "golden": 1, "runtime": 2, "cli": 3, "bench": 3,
        "tests": 4, "cocotb_tests": 4}


def repo_imports() -> dict[str, set[str]]:
    """module (dotted) -> the repository modules it imports, for every Python file of the repo.
    `from package import module` is an import of the module; `from module import name`, of the module."""
    sources = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for path in sorted(ROOT.glob("*/**/*.py")) if path.relative_to(ROOT).parts[0] in RANK}
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in sources else node.module
                          for a in node.names}
        graph[module] = {m for m in found if m.split(".")[0] in RANK and m != module}
    return graph


def test_every_top_level_package_is_ranked():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() or p.name == "tests"}
    assert packages <= set(RANK), f"rank the new package(s) {packages - set(RANK)} in RANK"


def test_imports_point_down_the_stack():
    wrong = []
    for module, imports in repo_imports().items():
        top = module.split(".")[0]
        for imported in imports:
            other = imported.split(".")[0]
            if other != top and RANK[other] >= RANK[top]:
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "imports against the one-way layout:\n" + "\n".join(sorted(wrong))


def test_contracts_import_nothing_else_of_the_repo():
    outside = {f"{m} imports {i}" for m, imports in repo_imports().items() if m.split(".")[0] == "atalla"
               for i in imports if i.split(".")[0] != "atalla"}
    assert not outside


def test_the_module_graph_has_no_cycle():
    edges = repo_imports()
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(edges[m] & edges.keys()):
            if state.get(n) == 1:
                return path + [m, n]
            if n not in state and (cycle := visit(n, path + [m])):
                return cycle
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m, [])):
            raise AssertionError("import cycle: " + " -> ".join(cycle))
