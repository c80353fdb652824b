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
