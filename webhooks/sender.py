"""One POST to a checked address (webhooks.addresses.Target), through urllib3: no redirects, no retries.

urllib3 (already installed under `requests`; now a direct requirement) lets the connection go to
the address the SSRF guard checked while the Host header and TLS (server name and certificate
check) use the URL's host name; nothing resolves the name a second time.
"""

import time
from dataclasses import dataclass

import urllib3

from webhooks.addresses import Target

RESPONSE_PEEK = 1024  # bytes of the answer kept for the log; the rest is never read


@dataclass(frozen=True)
class Answer:
    """What one POST got: a status code (None when no answer came), an error in words, how long it took."""

    code: int | None
    error: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def post(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to the target's checked address; never raises. A 3xx is a failure: it is not followed."""
    options = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host, assert_hostname=target.host, **options
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": _host_header(target)},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            peek = response.read(RESPONSE_PEEK, decode_content=False)
        finally:
            response.release_conn()
    except Exception as error:  # refused, reset, timed out, TLS: no answer
        return Answer(None, f"{type(error).__name__}: {error}"[:2000], _ms(started))
    finally:
        pool.close()
    code = response.status
    if 300 <= code < 400:
        error = f"HTTP {code}: redirect to {response.headers.get('Location', '?')} not followed"
    elif not 200 <= code < 300:
        error = f"HTTP {code}: {peek[:200].decode(errors='replace')}"
    else:
        error = ""
    return Answer(code, error[:2000], _ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
