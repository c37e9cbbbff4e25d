"""How fast the CLI starts: `shopbridge --help` and `shopbridge --version`, each in a fresh process.

The command line must not pull in the web server, the database or the API clients before a command
needs them. Measured as wall time of whole processes (median and p90 of N runs), and which heavy
packages `--help` imports (none of them is the goal).

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import emit, percentile, print_table

GOAL_S = 0.3
HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "httpx", "pydantic", "alembic", "psycopg", "prometheus_client")


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "shopbridge", *args], capture_output=True, check=True)
    return time.perf_counter() - started


def heavy_imports(args: list[str]) -> list[str]:
    """The heavy packages a process running `shopbridge ARGS` has imported when it ends."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['shopbridge', *{args!r}]\n"
        "try:\n    runpy.run_module('shopbridge', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in out.stderr.splitlines() if x.startswith("HEAVY="))
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    bare = [timed_python() for _ in range(runs)]
    help_s = [timed(["--help"]) for _ in range(runs)]
    version_s = [timed(["--version"]) for _ in range(runs)]
    heavy = heavy_imports(["--help"])
    result = {
        "bench": "cli_startup",
        "runs": runs,
        "python_bare_median_s": round(statistics.median(bare), 3),
        "help_median_s": round(statistics.median(help_s), 3),
        "help_p90_s": round(percentile(help_s, 90), 3),
        "version_median_s": round(statistics.median(version_s), 3),
        "heavy_imports_on_help": heavy,
        "goals": {"help_median_s": GOAL_S, "heavy_imports_on_help": []},
    }
    print_table(
        "shopbridge CLI start-up (whole processes)",
        [
            ("python -c pass (median s)", result["python_bare_median_s"], None),
            ("shopbridge --help (median s)", result["help_median_s"], f"<= {GOAL_S}"),
            ("shopbridge --help (p90 s)", result["help_p90_s"], None),
            ("shopbridge --version (median s)", result["version_median_s"], None),
            ("heavy packages imported by --help", ", ".join(heavy) or "none", "none"),
        ],
    )
    emit(result)


def timed_python() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
