"""Pushing to WebSocket groups from synchronous code (services' on-commit hooks, jobs, admin), and what the
consumers share: their database calls (`in_db_thread`, `NoDatabaseHop`) and per-socket rate limits.

A push is a hint that something changed, never the record: a failure (Redis down) is logged and
swallowed, so it can never undo or fail the change that was already committed. Pages and the
whiteboard read the full state again whenever their socket (re)opens.
"""

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        logger.debug("push to %s: %s", group, message.get("type"))
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.warning("push to %s failed", group, exc_info=True)


_lanes: dict[str, ThreadPoolExecutor] = {}  # lane -> its one thread (per process)


def in_db_thread(func, *, lane: str | None = None):
    """`func` (synchronous, touching the database) as a coroutine run in a pool thread.

    Channels' `database_sync_to_async` runs every call of a process in one thread, so one slow query
    holds up every socket of the process; here calls run side by side (each pool thread keeps its own
    database connection), which is what lets a node take a reconnect storm. Old connections are
    closed around each call, as Channels does.

    `lane`: a thread of its own for that kind of call, for the node's rounds that every socket depends
    on (its batches of opens, its liveness writes and sweeps), so they never queue behind the sockets'
    own calls in the shared pool: 10,000 sockets closing at once held a liveness write up for 17 s
    (bench/ws_bench.py), long enough for alive connections to lapse.
    """
    from channels.db import DatabaseSyncToAsync
    from django.conf import settings

    if not settings.WEBSOCKET["DB_THREAD_POOL"]:
        # Tests turn the pool off: its threads' connections would outlive each test's database.
        return DatabaseSyncToAsync(func, thread_sensitive=True)
    executor = None
    if lane is not None:
        executor = _lanes.get(lane)
        if executor is None:
            executor = _lanes[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{lane}")
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor)


class NoDatabaseHop:
    """Mixin for consumers whose database work all goes through `in_db_thread`: no thread hop per message.

    Channels (4.2+) runs `close_old_connections` through `sync_to_async` before every message a consumer
    handles (`AsyncConsumer.dispatch`): a hop to the process's one thread-sensitive thread for each ping,
    push, group event and close, with nothing to close, since such a consumer never touches the database
    on the event loop's side, and `in_db_thread` closes old connections around each call in the thread
    that made them. For a socket pinging every 15 s that hop was the largest part of its cost above the
    framework's; on the shared board (a fan-out is an event for each socket of the room) it was one
    thread all of a node's messages queued through (bench/board_bench.py).
    """

    async def dispatch(self, message):
        from channels.consumer import get_handler_name

        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class RecentEvents:
    """One socket's recent events, for a per-socket rate limit over a sliding window."""

    def __init__(self):
        self._times: deque[float] = deque()  # time.monotonic() of each event admitted

    def admit(self, *, limit: int, seconds: float) -> bool:
        """Record one event now if fewer than `limit` were admitted within the last `seconds`; whether it was.
        An event refused is not recorded."""
        now = time.monotonic()
        while self._times and now - self._times[0] > seconds:
            self._times.popleft()
        if len(self._times) >= limit:
            return False
        self._times.append(now)
        return True
