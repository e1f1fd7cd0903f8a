"""The presence socket, `ws/whiteboard/sessions/{id}/`: one more door onto whiteboard/services.py and sockets.py.

Open = `presence_connect`, a clean close = `presence_disconnect`, a visibility message = a heartbeat
with the new visibility (the locked path, at once), pings = liveness kept in memory and written in
batches by the node (whiteboard/liveness.py). A socket that drops without a clean close (network
gone, node restarting) is not disconnected: its connection lapses at its last signal, as an HTTP tab's
does, so a reconnect within the timeout (to any node) continues the same stretch of presence.
The same socket carries the shared board (issue 16): board messages go to whiteboard/board.py, and
what they changed is sent to the whiteboard's group (the other participant's sockets, the author's
other tabs) as soon as the service returns, i.e. after its commit; the drawing socket itself gets only
the sequence number of its stroke (whiteboard/board_socket.py). Board messages have their own rate limit (BOARD
["MAX_MESSAGES_PER_SECOND"]): a drawing tab sends a batch of points every 50 ms.
Messages and close codes: whiteboard/live.py.
"""

import json
import uuid
from datetime import timedelta
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from core.live import NoDatabaseHop, RecentEvents, in_db_thread
from core.parsers import json_or_none
from whiteboard import liveness, services, sockets
from whiteboard.board_socket import BoardMessages
from whiteboard.live import BOARD_EVENT, BOARD_MESSAGES, DOMAIN_CLOSE_CODES, PRESENCE_CHANGED, whiteboard_group
from whiteboard.models import VISIBILITIES, Visibility

# Close codes a client sends when it leaves on purpose (1005: a close frame without a code).
CLEAN_CLOSE = frozenset({1000, 1001, 1005})


class PresenceConsumer(NoDatabaseHop, BoardMessages, AsyncWebsocketConsumer):
    async def connect(self):
        self.whiteboard_id = int(self.scope["url_route"]["kwargs"]["whiteboard_id"])
        self.user = None
        self.connection_id: uuid.UUID | None = None
        self.role = None
        self.closing = False
        self.silent = False
        self.in_group = False
        self.last_signal_at = None
        self.recent = RecentEvents()  # for the rate limit
        self.board_recent = RecentEvents()  # board messages have a limit of their own
        self.board_setup()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        asked = (query.get("visibility") or [Visibility.VISIBLE])[0]
        self.visibility = asked if asked in VISIBILITIES else Visibility.VISIBLE
        self.node = liveness.node()
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("origin") == "browser" and user is not None and user.is_authenticated:
            await self._open_presence(user, resume=(query.get("resume") or [None])[0])
        else:
            self.auth_deadline = timezone.now() + timedelta(seconds=settings.WEBSOCKET["AUTH_TIMEOUT"])
            self.node.await_auth(self)

    # --- client messages ----------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        message = _parse(text_data)
        kind = message["type"] if message is not None else None
        if not (self._board_within_rate() if kind in BOARD_MESSAGES else self._within_rate()):
            return await self.refuse(4429, "throttled", "Too many messages.")
        if message is None:
            return await self.refuse(
                4400, "malformed", 'Send JSON objects with a known "type", at most 4 KB (64 KB for board messages).'
            )
        if self.user is None:
            if kind != "auth":
                return await self.refuse(4401, "not_authenticated", 'The first message must be {"type": "auth", ...}.')
            self.node.waiting_for_auth.discard(self)
            visibility = message.get("visibility", self.visibility)
            if visibility not in VISIBILITIES:
                return await self.refuse(4400, "malformed", "visibility must be visible or hidden.")
            self.visibility = visibility
            return await self._open_presence(None, token=message.get("token"), resume=message.get("resume"))
        if self.connection_id is None:
            return
        if kind in BOARD_MESSAGES:
            self._signal()  # drawing is a sign of life too
            await self.board_message(kind, message)
        elif kind == "ping":
            now = self._signal()
            await self.send(text_data='{"type": "pong", "server_time": "' + now.isoformat() + '"}')
        elif kind == "visibility":
            visibility = message.get("visibility")
            if visibility not in VISIBILITIES:
                return await self.refuse(4400, "malformed", "visibility must be visible or hidden.")
            if visibility == self.visibility:
                self._signal()
            else:
                await self._change_visibility(visibility)
        else:
            await self.refuse(4400, "malformed", f"Unknown message type {kind!r}.")

    def _within_rate(self) -> bool:
        return self.recent.admit(limit=settings.WEBSOCKET["MAX_MESSAGES"], seconds=settings.WEBSOCKET["MESSAGE_WINDOW"])

    def _board_within_rate(self) -> bool:
        return self.board_recent.admit(limit=settings.BOARD["MAX_MESSAGES_PER_SECOND"], seconds=1.0)

    def _signal(self):
        """A sign of life: kept in memory (the node writes the last one per socket in its next batch)."""
        now = self.last_signal_at = timezone.now()
        self.node.pending[self.connection_id] = sockets.LivenessSignal(
            self.whiteboard_id, self.user.pk, self.connection_id, now, self.visibility
        )
        return now

    async def _change_visibility(self, visibility: str) -> None:
        now = timezone.now()
        self.node.forget(self.connection_id)  # the locked write below covers the pending signal
        try:
            await in_db_thread(services.presence_heartbeat)(
                whiteboard_id=self.whiteboard_id,
                user=self.user,
                connection_id=self.connection_id,
                visibility=visibility,
                now=now,
            )
        except DomainError as error:
            if error.code in DOMAIN_CLOSE_CODES:
                return await self.refuse(DOMAIN_CLOSE_CODES[error.code], error.code, error.message)
            return await self.connection_lost()  # closed by the server meanwhile: a fresh connection
        self.visibility, self.last_signal_at = visibility, now

    # --- presence open / close ----------------------------------------------------------------------
    async def _open_presence(self, user, *, token: str | None = None, resume=None) -> None:
        """Authenticate (by token, when no session did), check, connect and read who is here, in the
        node's next batch of opening sockets (`liveness.NodeLiveness.open`): one trip to a database
        thread per batch, not per socket. Alone, a new connection by token costs four queries (the
        token, the whiteboard's lock, its connections, one write); `resume`, the connection id this
        client had before its socket dropped, continues it while alive (`sockets.presence_open_batch`:
        the tokens, one renewal, who is here: three statements however many sockets resume together).
        tests/whiteboard/test_presence_socket.py counts them."""
        if resume is not None:
            try:
                resume = uuid.UUID(str(resume))
            except ValueError:
                return await self.refuse(4400, "malformed", "resume must be a connection id (UUID).")
        try:
            user, result = await self.node.open(
                sockets.OpenRequest(self.whiteboard_id, user, token, resume, self.visibility)
            )
        except DomainError as error:
            code = 4401 if error.code in ("bad_token", "token_expired") else DOMAIN_CLOSE_CODES.get(error.code, 4400)
            return await self.refuse(code, error.code, error.message)
        self.user, self.role, self.connection_id = user, result.role, result.connection_id
        self.last_signal_at = timezone.now()
        previous = self.node.sockets.get(result.connection_id)
        if previous is not None and previous is not self:  # resumed while its half-open socket is still here
            await previous.superseded()
        self.node.register(self)
        await self.channel_layer.group_add(whiteboard_group(self.whiteboard_id), self.channel_name)
        self.in_group = True
        await self.send(
            text_data=json.dumps(
                {
                    "type": "welcome",
                    "connection_id": str(result.connection_id),
                    "role": result.role,
                    "heartbeat_interval": result.heartbeat_interval,
                    "timeout_seconds": result.timeout_seconds,
                    "presence": result.presence,
                }
            )
        )

    async def connection_lost(self) -> None:
        """The server closed this socket's connection (it lapsed, e.g. while the database was away):
        record presence again under a new connection, as the HTTP tracker does after a 409."""
        self.node.unregister(self)
        self.connection_id = None
        await self._open_presence(self.user)

    async def superseded(self) -> None:
        """A new socket of this client resumed this one's connection: close this one, leaving presence to it."""
        self.silent = True  # its close must not end the connection the new socket continues
        self.node.unregister(self)
        await self.refuse(4000, "superseded", "This connection continues on a newer socket.")

    async def went_silent(self) -> None:
        """Nothing heard within the timeout: close; the connection lapses at its last signal (written now)."""
        self.silent = True
        self.node.unregister(self)
        await self.node.flush()
        await self.refuse(4000, "silent", "Nothing heard within the presence timeout; connect again.")

    async def refuse(self, code: int, error: str, detail: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.node.waiting_for_auth.discard(self)
        if code in (4400, 4429) and self.connection_id is not None:
            await self._disconnect_presence()  # the client was there until now; it gets no more say
        await self.send(text_data=json.dumps({"type": "error", "code": error, "detail": detail}))
        await self.close(code=code)

    async def disconnect(self, code):
        self.node.unregister(self)
        await self.board_closed()
        if self.in_group:
            await self.channel_layer.group_discard(whiteboard_group(self.whiteboard_id), self.channel_name)
            self.in_group = False
        if self.connection_id is None or self.silent:
            return
        if code in CLEAN_CLOSE:
            await self._disconnect_presence()
        # Otherwise (network gone, server restarting: 1006, 1011, 1012): the last signal stays pending
        # and is written with the node's batch; the connection lapses there unless the client comes back.

    async def _disconnect_presence(self) -> None:
        connection_id, self.connection_id = self.connection_id, None
        self.node.forget(connection_id)
        await in_db_thread(services.presence_disconnect)(
            whiteboard_id=self.whiteboard_id, user=self.user, connection_id=connection_id
        )

    # --- group messages -----------------------------------------------------------------------------
    async def presence_changed(self, event):
        if not self.closing:
            await self.send(text_data=json.dumps({"type": "presence", "presence": event["presence"]}))


assert PRESENCE_CHANGED.replace(".", "_") == PresenceConsumer.presence_changed.__name__
assert BOARD_EVENT.replace(".", "_") == PresenceConsumer.board_event.__name__


def _parse(text: str | None) -> dict | None:
    """A JSON object with a string "type", or None (malformed: 4400). Board messages may be up to
    BOARD["MAX_MESSAGE_BYTES"] (64 KB), the others 4 KB."""
    if text is None:
        return None
    size = len(text) if text.isascii() else len(text.encode())
    if size > settings.BOARD["MAX_MESSAGE_BYTES"]:
        return None
    message = json_or_none(text)
    if type(message) is not dict or type(message.get("type")) is not str:
        return None
    if size > 4096 and message["type"] not in BOARD_MESSAGES:
        return None
    return message
