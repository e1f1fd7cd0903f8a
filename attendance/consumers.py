"""The watcher socket, `ws/live/`: pages that only look (session page, dashboard, staff, student page).

Signed-in browsers only (the session cookie, through the origin check); it never touches presence.
It names the sessions it watches; each is checked as the pages check it. On a push for a watched
session (attendance/live.py: presence changed, attendance marked anywhere) and every
WEBSOCKET["WATCH_REFRESH"] s (a suggestion can change with the clock alone), it renders that
session's parts for this viewer and sends them when they differ from what it sent last.
Messages and close codes: attendance/live.py, whiteboard/live.py.
"""

import asyncio
import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from attendance.live import MAX_WATCHED, SESSION_CHANGED, VIEWS, live_messages, session_group
from core.live import NoDatabaseHop, RecentEvents, in_db_thread
from core.parsers import json_or_none
from whiteboard import liveness

logger = logging.getLogger(__name__)


class LiveConsumer(NoDatabaseHop, AsyncWebsocketConsumer):
    async def connect(self):
        self.watched: list[int] = []
        self.view = None
        self.sent: dict[int, str] = {}
        self.closing = False
        self.refresher = None
        self.recent = RecentEvents()
        await self.accept()
        # Any node serving sockets sweeps (whiteboard/liveness.py), so a dead node's participants are
        # ended, and pages told, even by a node that holds only pages.
        liveness.node().ensure_running()
        user = self.scope.get("user")
        if self.scope.get("origin") != "browser" or user is None or not user.is_authenticated:
            await self.refuse(4401, "not_authenticated", "Sign in: live pages follow the browser's session.")

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if not self._within_rate():
            return await self.refuse(4429, "throttled", "Too many messages.")
        message = json_or_none(text_data or "")
        if type(message) is not dict or message.get("type") != "watch":
            return await self.refuse(4400, "malformed", 'Send {"type": "watch", "view": ..., "sessions": [...]}.')
        view, ids = message.get("view"), message.get("sessions")
        if (
            view not in VIEWS
            or type(ids) is not list
            or not 0 < len(ids) <= MAX_WATCHED
            or any(type(i) is not int for i in ids)
        ):
            return await self.refuse(4400, "malformed", "view must be session|cards and sessions a list of ids.")
        messages = await in_db_thread(live_messages)(user=self.scope["user"], view=view, session_ids=ids)
        if messages is None:
            return await self.refuse(4404, "not_found", "No such session.")
        for session_id in set(self.watched) - set(ids):
            await self.channel_layer.group_discard(session_group(session_id), self.channel_name)
        for session_id in ids:
            await self.channel_layer.group_add(session_group(session_id), self.channel_name)
        self.view, self.watched, self.sent = view, list(dict.fromkeys(ids)), {}
        await self._send_changed(messages)
        if self.refresher is None:
            self.refresher = asyncio.get_running_loop().create_task(self._refresh_every())

    def _within_rate(self) -> bool:
        return self.recent.admit(limit=settings.WEBSOCKET["MAX_MESSAGES"], seconds=settings.WEBSOCKET["MESSAGE_WINDOW"])

    async def session_changed(self, event):
        logger.debug("session %s changed; watching %s", event["session_id"], self.watched)
        if event["session_id"] in self.watched and not self.closing:
            await self._render_and_send([event["session_id"]])

    async def _refresh_every(self):
        while True:
            await asyncio.sleep(settings.WEBSOCKET["WATCH_REFRESH"])
            if self.watched and not self.closing:
                await self._render_and_send(self.watched)

    async def _render_and_send(self, ids: list[int]) -> None:
        messages = await in_db_thread(live_messages)(user=self.scope["user"], view=self.view, session_ids=ids)
        if messages is None:  # no longer theirs (reassigned): stop, as a reload would show a 404
            return await self.refuse(4404, "not_found", "No such session.")
        await self._send_changed(messages)

    async def _send_changed(self, messages: list[dict]) -> None:
        for message in messages:
            text = json.dumps(message)
            if self.sent.get(message["session_id"]) != text:
                self.sent[message["session_id"]] = text
                await self.send(text_data=text)

    async def refuse(self, code: int, error: str, detail: str) -> None:
        if self.closing:
            return
        self.closing = True
        await self.send(text_data=json.dumps({"type": "error", "code": error, "detail": detail}))
        await self.close(code=code)

    async def disconnect(self, code):
        if self.refresher is not None:
            self.refresher.cancel()
        for session_id in self.watched:
            await self.channel_layer.group_discard(session_group(session_id), self.channel_name)
        self.watched = []


assert SESSION_CHANGED.replace(".", "_") == LiveConsumer.session_changed.__name__
