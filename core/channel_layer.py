"""The channel layer of production: channels_redis's pub/sub layer, with a process's publishes sent in batches.

channels_redis (4.x) sends each `group_send` as one PUBLISH under a per-process lock that is held until
Redis's answer has been read back by the event loop. On a busy loop that is milliseconds per publish, and
every other socket's publish waits behind it: bench/board_bench.py (the shared board, a fan-out for every
50 ms batch of points) measured fan-out p99 growing to seconds while the server had CPU to spare. Here the
publishes that arrive while one round trip is under way wait for it together and then go as one pipeline
(one round trip for all of them), in the order they were asked for, so a sender's events keep their order.
Each caller still waits until its publish was sent, and gets its error if it failed.
"""

import asyncio

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection


class BatchedShardConnection(RedisSingleShardConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: list[tuple[str, bytes, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def publish(self, channel, message):
        done = asyncio.get_running_loop().create_future()
        self._pending.append((channel, message, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_pending())
        await done

    async def _send_pending(self) -> None:
        async with self._lock:  # subscribes and unsubscribes take the same lock, as before
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    self._ensure_redis()
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, message, _ in batch:
                            pipe.publish(channel, message)
                        await pipe.execute()
                except BaseException as error:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(error if isinstance(error, Exception) else ConnectionError(error))
                    if not isinstance(error, Exception):
                        raise
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)


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
