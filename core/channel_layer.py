"""The channel layer of production: channels_redis's pub/sub layer, with a process's Redis commands sent in batches.

channels_redis (4.x) sends each `group_send` as one PUBLISH, and each socket's channel and group as one
SUBSCRIBE (one more UNSUBSCRIBE each when it closes), under a per-process lock; a publish holds it until
Redis's answer has been read back by the event loop. On a busy loop that is milliseconds per publish, and
every other socket's publish waits behind it: bench/board_bench.py (the shared board, a fan-out for every
50 ms batch of points) measured fan-out p99 growing to seconds while the server had CPU to spare. And
10,000 sockets reopening at once (a node's restart, bench/ws_bench.py) are 20,000 SUBSCRIBEs, each its own
write to the socket: 12 % of a worker's CPU in a profile of that storm. Here the commands that arrive while
one round trip is under way wait for it together and then go in order, each run of the same kind as one
command or pipeline: publishes as one pipeline (one round trip for all of them), subscribes as one
SUBSCRIBE naming every channel, unsubscribes as one UNSUBSCRIBE. A sender's events keep their order.
Each caller still waits until its command was sent, and gets its error if it failed.
"""

import asyncio
import itertools

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection

PUBLISH, SUBSCRIBE, UNSUBSCRIBE = "publish", "subscribe", "unsubscribe"


class BatchedShardConnection(RedisSingleShardConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (command, channel, message or None, the caller's future), in the order asked for
        self._pending: list[tuple[str, str, bytes | None, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def publish(self, channel, message):
        await self._queue(PUBLISH, channel, message)

    async def subscribe(self, channel):
        await self._queue(SUBSCRIBE, channel)

    async def unsubscribe(self, channel):
        await self._queue(UNSUBSCRIBE, channel)

    async def _queue(self, command: str, channel: str, message: bytes | None = None) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((command, channel, message, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_pending())
        await done

    async def _send_pending(self) -> None:
        async with self._lock:  # flush() takes the same lock
            while self._pending:
                batch, self._pending = self._pending, []
                for command, run in itertools.groupby(batch, key=lambda item: item[0]):
                    run = list(run)
                    try:
                        await self._send(command, [(channel, message) for _, channel, message, _ in run])
                    except BaseException as error:
                        failure = error if isinstance(error, Exception) else ConnectionError(error)
                        for _, _, _, done in run:
                            if not done.done():
                                done.set_exception(failure)
                        if not isinstance(error, Exception):  # cancelled: nothing more is sent
                            for _, _, _, done in batch + self._pending:
                                if not done.done():
                                    done.set_exception(failure)
                            self._pending = []
                            raise
                    else:
                        for _, _, _, done in run:
                            if not done.done():
                                done.set_result(None)

    async def _send(self, command: str, items: list[tuple[str, bytes | None]]) -> None:
        self._ensure_redis()
        if command == PUBLISH:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, message in items:
                    pipe.publish(channel, message)
                await pipe.execute()
            return
        self._ensure_receiver()
        if command == SUBSCRIBE:
            channels = list(dict.fromkeys(c for c, _ in items if c not in self._subscribed_to))
            if channels:
                await self._pubsub.subscribe(*channels)
                self._subscribed_to.update(channels)
        else:
            channels = list(dict.fromkeys(c for c, _ in items if c in self._subscribed_to))
            if channels:
                await self._pubsub.unsubscribe(*channels)
                self._subscribed_to.difference_update(channels)


class BatchedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [BatchedShardConnection(shard.host, self) for shard in self._shards]


class BatchedPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer`, its loop layers using `BatchedShardConnection`."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        if loop not in self._layers:
            from channels_redis.pubsub import _wrap_close

            self._layers[loop] = BatchedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return self._layers[loop]
