"""Pushing to WebSocket groups from synchronous code (services' on-commit hooks, jobs, admin).

A push is a hint that something changed, never the record: a failure (Redis down) is logged and
swallowed, so it can never undo or fail the change that was already committed. Pages and the
whiteboard read the full state again whenever their socket (re)opens.
"""

import logging

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
