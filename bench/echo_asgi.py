"""The framework floor for bench/ws_bench.py: a bare Channels consumer speaking the presence socket's
protocol (auth, ping/pong, a push to the whiteboard's group on a visibility message) with no database,
no service and no rules. Same server, same channel layer, same process count as the real one:
`uvicorn bench.echo_asgi:application`.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

import config.asgi  # noqa: E402, F401 - the same garbage-collector tuning as the real application


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = f"whiteboard.{self.scope['url_route']['kwargs']['whiteboard_id']}"
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)
        kind = message.get("type")
        if kind == "auth":
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.send(text_data=json.dumps({"type": "welcome", "heartbeat_interval": 15}))
        elif kind == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
        elif kind == "visibility":
            hidden = message.get("visibility") == "hidden"
            presence = {"tutor": {"connected": True, "hidden": False}, "student": {"connected": True, "hidden": hidden}}
            await self.channel_layer.group_send(self.group, {"type": "presence.changed", "presence": presence})

    async def presence_changed(self, event):
        await self.send(text_data=json.dumps({"type": "presence", "presence": event["presence"]}))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws/whiteboard/sessions/<int:whiteboard_id>/", EchoConsumer.as_asgi())]),
    }
)
