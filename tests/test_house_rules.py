"""Rules of the house that no single feature test would notice breaking: the CLI starts without the
heavy stacks, SQLite needs no PostgreSQL driver, no module takes a Unix-only lock at import, and the
README's settings table names every setting."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from shopbridge.sync.settings import ConnectionSettings

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "shopbridge"
HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "httpx", "pydantic", "alembic", "psycopg", "prometheus_client")
FCNTL_ALLOWED = {"visma/oauth.py"}  # FileTokenStore's flock, replaced by a database lock on branch cluster


def _imported_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_help_imports_no_web_database_or_client_stack() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['shopbridge', '--help']\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        runpy.run_module('shopbridge', run_name='__main__')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert _imported_after(code) == set()


def test_sqlite_needs_no_postgresql_driver(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom shopbridge.store import open_store\n"
        f"open_store(data_dir={str(tmp_path)!r}).close()\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg2')))\n"
    )
    assert _imported_after(code) == set()


def test_no_module_imports_fcntl_at_import_time() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: a function may import it where it is needed
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "fcntl":
                names = ["fcntl"]
            if "fcntl" in names and rel not in FCNTL_ALLOWED:
                offenders.append(rel)
    assert offenders == []


def test_readme_settings_table_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    named = set(
        re.findall(r"`([a-z_]+)`", "\n".join(line for line in table.splitlines() if line.startswith("|")))
    )
    missing = [key for key in ConnectionSettings.model_fields if key not in named]
    assert missing == [], f"add these settings to the README's settings table: {missing}"
