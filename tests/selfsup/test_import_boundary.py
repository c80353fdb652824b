"""The engine stays a library: no web, database, queue or service imports anywhere under selfsup/."""

import ast
import subprocess
import sys
from pathlib import Path

import selfsup

SERVICE_LIBRARIES = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "celery", "kombu", "redis"}
FORBIDDEN = frozenset(SERVICE_LIBRARIES | {"pydantic_settings", "app", "worker", "migrations"})
ENGINE = Path(selfsup.__file__).parent


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):  # walks function bodies too: a lazy import counts as much as a top-level one
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _engine_files() -> list[Path]:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10 and ENGINE / "train" / "loop.py" in files
    return files


def test_engine_imports_nothing_from_the_service_side() -> None:
    offenders = {
        str(path.relative_to(ENGINE.parent)): sorted(roots & FORBIDDEN)
        for path in _engine_files()
        if (roots := _imported_roots(ast.parse(path.read_text(), filename=str(path)))) & FORBIDDEN
    }
    assert offenders == {}


def test_engine_never_exits_the_process() -> None:
    for path in _engine_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "exit":
                assert not (isinstance(node.value, ast.Name) and node.value.id in {"sys", "os"}), path


def test_the_checker_sees_imports_wherever_they_are() -> None:
    source = "import os\ndef f():\n    from fastapi import FastAPI\n    import sqlalchemy.orm\n"
    assert _imported_roots(ast.parse(source)) == {"os", "fastapi", "sqlalchemy"}
    assert _imported_roots(ast.parse("from . import app\nfrom .worker import x\n")) == set()


def test_importing_the_engine_loads_no_service_module() -> None:
    # A fresh interpreter: catches what the engine's own dependencies would pull in, not just its source.
    code = (
        "import sys, selfsup, selfsup.encoder, selfsup.train.loop\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(FORBIDDEN)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ENGINE.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_engine_imports(tree: ast.Module) -> set[str]:
    """What a module imports from selfsup when it is imported: module-level statements, the ones under
    ``if TYPE_CHECKING:`` included (a cycle hidden there is still a cycle of the design); imports inside
    functions are deliberate deferrals and are left out."""
    statements: list[ast.stmt] = list(tree.body)
    found: set[str] = set()
    while statements:
        node = statements.pop()
        if isinstance(node, ast.If):
            statements.extend(node.body + node.orelse)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("selfsup."):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("selfsup."))
    return found


def test_engine_modules_import_each_other_without_cycles() -> None:
    graph = {
        _module_name(path): _top_level_engine_imports(ast.parse(path.read_text(), filename=str(path)))
        for path in _engine_files()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' -> '.join([*visiting[visiting.index(module) :], module])}"
        visiting.append(module)
        for imported in sorted(graph.get(module, ())):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
