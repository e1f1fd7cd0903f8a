"""One node's (process's) view of its presence sockets: last signals in memory, batch writes, silence.

Pings change nothing but time, so they are not written one by one: the node keeps each socket's last
signal and writes the batch every WEBSOCKET["FLUSH_INTERVAL"] s (`whiteboard.sockets.presence_liveness_write`).
A socket silent for longer than the presence timeout of its visibility (45 s visible, 150 s hidden)
is closed (4000) and its connection left to lapse at its last signal, as an HTTP tab that stops
beating does. The same loop runs the sweep (`presence_sweep`) every WEBSOCKET["SWEEP_INTERVAL"] s,
which ends the connections of dead nodes and crashed browsers at their last signal written.

Why this is safe: an alive socket pings every 15 s and its signal is written within FLUSH_INTERVAL
(≤ 15 s), so the connection's `expires_at` in the database (last written signal + 45 s) is always
ahead of now: no other node's sweep can close it. A node killed outright loses only its unwritten
batch: its participants' presence ends at their last signal written, at most one interval early.
"""

import asyncio
import logging
import time
import uuid
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core.live import in_db_thread
from whiteboard import services
from whiteboard.models import VISIBILITIES
from whiteboard.presence import PresenceSettings
from whiteboard.sockets import BATCH_SIZE, LivenessSignal, OpenRequest, presence_liveness_write, presence_open_batch

logger = logging.getLogger(__name__)


class NodeLiveness:
    """Sockets of this process and event loop, their pending signals and the background loop."""

    TICK_SECONDS = 1.0
    SLOW_SECONDS = 1.0  # a database round of the node that takes longer is logged (a warning, with its figures)

    def __init__(self):
        self.sockets: dict[uuid.UUID, object] = {}  # connection id -> PresenceConsumer
        self.waiting_for_auth: set = set()  # consumers that must authenticate by a deadline
        self.pending: dict[uuid.UUID, LivenessSignal] = {}
        self.writes = 0  # batches written (bench)
        self.opening: list[tuple[OpenRequest, asyncio.Future]] = []  # sockets waiting for their open's batch
        self._opener: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._last_flush = self._last_sweep = None

    # --- sockets -------------------------------------------------------------------------------
    def register(self, consumer) -> None:
        self.sockets[consumer.connection_id] = consumer
        self.ensure_running()

    def unregister(self, consumer) -> None:
        if consumer.connection_id is not None and self.sockets.get(consumer.connection_id) is consumer:
            del self.sockets[consumer.connection_id]
        self.waiting_for_auth.discard(consumer)

    def await_auth(self, consumer) -> None:
        self.waiting_for_auth.add(consumer)
        self.ensure_running()

    def note(self, signal: LivenessSignal) -> None:
        self.pending[signal.connection_id] = signal

    def forget(self, connection_id: uuid.UUID) -> None:
        """A locked write (visibility change, disconnect) supersedes the pending signal."""
        self.pending.pop(connection_id, None)

    # --- opening presence, in batches ------------------------------------------------------------
    async def open(self, request: OpenRequest):
        """Open presence for a socket (`whiteboard.sockets.presence_open_batch`): (user, ConnectionResult).

        Sockets that open while a batch is in the database thread wait for the next one, which takes
        them all (up to 500): one trip and a few statements however many there are, so a node's
        reconnect storm costs batches, not sockets (group commit). A lone socket goes at once.
        Raises what the batch decided for this socket (DomainError: refused)."""
        future = asyncio.get_running_loop().create_future()
        self.opening.append((request, future))
        if self._opener is None or self._opener.done():
            self._opener = asyncio.get_running_loop().create_task(self._open_batches())
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _open_batches(self) -> None:
        await asyncio.sleep(0)  # sockets opening in this same turn of the loop join the first batch
        while self.opening:
            batch, self.opening = self.opening[:BATCH_SIZE], self.opening[BATCH_SIZE:]
            asked = time.monotonic()
            try:
                requests = [request for request, _ in batch]
                outcomes = await in_db_thread(presence_open_batch, lane="open")(requests=requests)
            except Exception as error:  # the database is away: every socket of the batch fails
                outcomes = [error] * len(batch)
            self._warn_if_slow(asked, "opening %d sockets", len(batch))
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # its socket's task may be gone (cancelled)
                    future.set_result(outcome)

    def _warn_if_slow(self, asked: float, what: str, *args) -> None:
        """Log a database round of the node (`what`, a format with `args`) asked for at `asked` (monotonic)
        that took over SLOW_SECONDS: each runs in a thread of its own (lanes), so this is the database's time."""
        if (took := time.monotonic() - asked) > self.SLOW_SECONDS:
            logger.warning(what + " took %.1f s", *args, took)

    # --- background loop -----------------------------------------------------------------------
    def ensure_running(self) -> None:
        if settings.WEBSOCKET["FLUSH_INTERVAL"] <= 0:
            return  # tests drive flush() and tick() themselves
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_flush = self._last_sweep = loop.time()
        while True:
            await asyncio.sleep(self.TICK_SECONDS)
            try:
                await self.tick()
                if loop.time() - self._last_flush >= min(15.0, settings.WEBSOCKET["FLUSH_INTERVAL"]):
                    self._last_flush = loop.time()
                    await self.flush()
                sweep_every = settings.WEBSOCKET["SWEEP_INTERVAL"]
                if sweep_every > 0 and loop.time() - self._last_sweep >= sweep_every:
                    self._last_sweep, asked = loop.time(), time.monotonic()
                    closed = await in_db_thread(services.presence_sweep, lane="node")()
                    self._warn_if_slow(asked, "the sweep (%d connections closed)", closed)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be away for a while: keep the signals and try again next round.
                logger.exception("presence liveness round failed")

    async def tick(self, *, now: datetime | None = None) -> None:
        """Close sockets that missed their auth deadline (4401) or went silent past their timeout (4000)."""
        now = now or timezone.now()
        for consumer in [c for c in self.waiting_for_auth if c.auth_deadline <= now]:
            self.waiting_for_auth.discard(consumer)
            await consumer.refuse(4401, "not_authenticated", 'Send {"type": "auth", "token": ...} first.')
        conf = PresenceSettings.current()
        # Heard last before this, by visibility: silent (one comparison per socket and second).
        cutoff = {visibility: now - conf.timeout(visibility) for visibility in VISIBILITIES}
        for consumer in [c for c in self.sockets.values() if c.last_signal_at < cutoff[c.visibility]]:
            await consumer.went_silent()

    async def flush(self) -> set[uuid.UUID]:
        """Write the pending signals in one batch; sockets whose connection is gone connect again."""
        if not self.pending:
            return set()
        batch, self.pending = self.pending, {}
        asked = time.monotonic()
        try:
            lost = await in_db_thread(presence_liveness_write, lane="node")(signals=list(batch.values()))
        except Exception:
            for key, signal in batch.items():  # keep them (unless newer ones came meanwhile) for the next round
                self.pending.setdefault(key, signal)
            raise
        self.writes += 1
        self._warn_if_slow(asked, "writing %d liveness signals (%d connections lost)", len(batch), len(lost))
        for connection_id in lost:
            consumer = self.sockets.get(connection_id)
            if consumer is not None:
                await consumer.connection_lost()
        return lost


_nodes: dict[asyncio.AbstractEventLoop, NodeLiveness] = {}


def node() -> NodeLiveness:
    """This process's node for the running event loop (one per loop, as the channel layer does it)."""
    loop = asyncio.get_running_loop()
    found = _nodes.get(loop)
    if found is None:
        for old in [other for other in _nodes if other.is_closed()]:
            del _nodes[old]
        found = _nodes[loop] = NodeLiveness()
    return found
