"""Helpers for tests of the WebSocket doors: the project's own ASGI application, driven in-process.

Tests are plain functions running one coroutine each (`run(...)`); the consumers reach the database
through `database_sync_to_async`, which comes back to the test's thread, so they see its data.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from accounts.services import token_issue

SITE = b"http://testserver"


def run(coroutine_function, *args, **kwargs):
    """Run the coroutine to its end. Where this thread already runs an event loop (Playwright's sync
    API, kept by the browser tests for the whole session), from a helper thread instead, whose
    database connection is closed afterwards."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(coroutine_function)(*args, **kwargs)

    def in_thread():
        try:
            return async_to_sync(coroutine_function)(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(in_thread).result()


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def headers(*, cookie: bytes | None = None, origin: bytes | None = SITE) -> list[tuple[bytes, bytes]]:
    result = [(b"host", b"testserver")]
    if origin is not None:
        result.append((b"origin", origin))
    if cookie is not None:
        result.append((b"cookie", cookie))
    return result


def api_token(user) -> str:
    return token_issue(user=user, name="socket tests")[1]


async def socket(path: str, *, user=None, origin: bytes | None = SITE, query: str = "") -> WebsocketCommunicator:
    """A communicator on the project's ASGI application; `user`: signed in with a real session cookie."""
    from config.asgi import application

    cookie = await database_sync_to_async(session_cookie)(user) if user is not None else None
    return WebsocketCommunicator(
        application, path + (f"?{query}" if query else ""), headers=headers(cookie=cookie, origin=origin)
    )


async def send(communicator: WebsocketCommunicator, message) -> None:
    await communicator.send_to(text_data=message if isinstance(message, str) else json.dumps(message))


async def receive(communicator: WebsocketCommunicator, timeout: float = 3) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 3) -> tuple[dict | None, int]:
    """The error message sent before the close (if any) and the close code."""
    error = None
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.send":
            error = json.loads(output["text"])
        elif output["type"] == "websocket.close":
            return error, output.get("code", 1000)


async def receive_type(communicator: WebsocketCommunicator, kind: str, timeout: float = 3) -> dict:
    """The next message of this type, skipping presence pushes (a socket hears its own changes too)."""
    while True:
        message = await receive(communicator, timeout)
        if message["type"] == kind:
            return message
        assert message["type"] == "presence", message
