"""The app as a real ASGI server process (uvicorn, as in production), for tests and benches across processes.

Each server has its own process group on a free loopback port; `kill()` is kill -9 (a node dying),
`stop()` a graceful stop. Used by tests/test_websocket_processes.py, the browser tests of live pages
and bench/ws_bench.py.
"""

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.live_server import ROOT, free_port


class AsgiServer:
    def __init__(self, *, env: dict[str, str], log_path: Path, workers: int = 1, ready_timeout: float = 30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "DEBUG": "false", **env}
        self.log_path = log_path
        self.workers = workers
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            # `-m`, not the uvicorn script: a copied virtualenv's scripts name another interpreter.
            str(sys.executable),
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--ws",
            "websockets",  # the production command's (README): uvicorn's "auto" is another implementation
            "--ws-per-message-deflate",
            "false",
            "--lifespan",
            "off",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "2",
        ]

    def start(self) -> "AsgiServer":
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    __enter__ = start

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}; see {self.log_path}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer within {self.ready_timeout} s; see {self.log_path}")

    def kill(self) -> None:
        """kill -9 of every process of the server: no clean close, no last write."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._close_log()

    def __exit__(self, *exc):
        self.stop()

    def _close_log(self):
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
