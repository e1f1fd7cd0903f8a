#!/usr/bin/env python3
"""Set-up and everyday commands, needing nothing but Python 3.11+ (no make, no shell tricks).

    python3 dev.py run     virtualenv, install, migrate, demo data, serve http://127.0.0.1:8000 (SQLite):
                           HTTP and WebSockets from one process (daphne's runserver, in-memory channel layer)
    python3 dev.py test    virtualenv, install, the whole test suite (extra arguments go to pytest)

DATABASE_URL in the environment switches both to PostgreSQL.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = ROOT / "requirements-dev.txt"
STAMP = VENV / ".requirements.sha256"


def sh(*args: str | Path, check: bool = True) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode  # noqa: S603 - our own commands


def ensure_venv() -> None:
    """Create .venv and install the requirements, again only when they changed."""
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(ROOT.glob("requirements*.txt")))).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != digest:
        print("Installing requirements ...", flush=True)
        sh(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS)
        STAMP.write_text(digest)


def manage(*args: str) -> None:
    sh(PYTHON, "manage.py", *args)


def run(args: list[str]) -> int:
    ensure_venv()
    os.environ.setdefault("DEBUG", "true")
    manage("migrate", "--no-input")
    manage("collectstatic", "--no-input", "--verbosity", "0")
    manage("demo_data")
    print("\nServing http://127.0.0.1:8000 and ws://127.0.0.1:8000/ws/ (API docs: /docs, admin: /admin/)", flush=True)
    # Background jobs (issue #17) without a broker: beat's schedule ticks in a process of its own.
    jobs = subprocess.Popen([str(PYTHON), "-m", "config.jobs"], cwd=ROOT)  # noqa: S603 - our own module
    try:
        # runserver is daphne's (channels' "daphne" app): HTTP and WebSockets in one process.
        return sh(PYTHON, "manage.py", "runserver", "127.0.0.1:8000", *args, check=False)
    finally:
        jobs.terminate()
        jobs.wait(timeout=10)


def test(args: list[str]) -> int:
    ensure_venv()
    return sh(PYTHON, "-m", "pytest", *args, check=False)


COMMANDS = {"run": run, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
