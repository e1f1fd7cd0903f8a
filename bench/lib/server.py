"""The production server, `gunicorn config.wsgi`, over the bench database: started, and always stopped."""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PING_PATH = "/api/ping"


@dataclass(frozen=True)
class ServerConfig:
    """A gunicorn worker set-up, written `sync:4` or `gthread:2:4` (class:workers[:threads])."""

    worker_class: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        parts = text.split(":")
        if parts[0] not in ("sync", "gthread") or len(parts) not in (2, 3):
            raise argparse.ArgumentTypeError(f"{text!r}: expected sync:WORKERS or gthread:WORKERS:THREADS")
        return cls(parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 1)

    @classmethod
    def parse_list(cls, text: str) -> list[ServerConfig]:
        """Comma-separated configurations; '' for none."""
        return [cls.parse(part) for part in text.split(",") if part]

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync x{self.workers}"
        return f"gthread {self.workers}x{self.threads}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, token: str | None = None, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return conn.getresponse().status
    finally:
        conn.close()


def server_env(cache_url: str) -> dict[str, str]:
    """This process's environment for the server, less Django's own variables, with the cache of --cache-url."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["CACHE_URL"] = cache_url or "locmemcache://"
    return env


class Server:
    """gunicorn config.wsgi in its own process group, stopped on exit whatever happens."""

    def __init__(self, config: ServerConfig, *, db_url: str, env: dict, log_dir: Path):
        self.config = config
        self.port = free_port()
        self.log_path = log_dir / f"gunicorn-{config.worker_class}-{config.workers}x{config.threads}.log"
        self.env = {
            **env,
            "DATABASE_URL": db_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": "600",  # each worker thread keeps its PostgreSQL connection
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        cmd = [
            # `-m`, not the gunicorn script: a copied virtualenv's scripts name another interpreter.
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            self.config.worker_class,
            "--workers",
            str(self.config.workers),
            "--threads",
            str(self.config.threads),
            "--backlog",
            "2048",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                http_status(self.port, PING_PATH, timeout=1.0)  # any answer (401) means it serves
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: gunicorn's graceful stop
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started, and only it
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
