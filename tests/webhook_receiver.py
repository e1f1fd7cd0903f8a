"""A real HTTP receiver for webhook tests: http.server on 127.0.0.1, in a thread, verifying each POST's
signature with `standardwebhooks` (what an integrator runs) and keeping what arrived.

`Receiver(secret).start()`; `.url`; `.stop()` (down: connections refused) and `.start()` again on the
same port; `.answers[path] = (status, headers)` to answer otherwise than 204 (a redirect, an error);
`.delay` seconds before answering (a slow endpoint).
"""

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self, secret: str, *, port: int | None = None, tls: tuple[str, str] | None = None):
        self.secret = secret
        self.port = port or free_port()
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hooks"
        self.received: list[dict] = []  # every POST, verified or not: {path, headers, body, verified, payload}
        self.answers: dict[str, tuple[int, dict]] = {}
        self.delay = 0.0
        self._server: ThreadingHTTPServer | None = None

    @property
    def verified(self) -> list[dict]:
        return [r for r in self.received if r["verified"]]

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    verified, error = True, ""
                except WebhookVerificationError as e:
                    payload, verified, error = None, False, str(e)
                receiver.received.append(
                    {
                        "path": self.path,
                        "headers": headers,
                        "body": body,
                        "verified": verified,
                        "error": error,
                        "payload": payload,
                    }
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, extra = receiver.answers.get(self.path, (204 if verified else 400, {}))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                reply = json.dumps({"verified": verified, "error": error}).encode()
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
