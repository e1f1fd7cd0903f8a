"""The batched pub/sub channel layer (core/channel_layer.py): commands asked for while a round trip is under
way go together, in the order asked (publishes in one pipeline, subscribes in one SUBSCRIBE, unsubscribes
in one UNSUBSCRIBE); each caller waits for its own and gets its error."""

import asyncio

import pytest

from core.channel_layer import BatchedPubSubChannelLayer, BatchedShardConnection
from tests.ws import run


class FakeRedis:
    """Records each pipeline (a round trip) as the list of publishes it carried; optionally fails them."""

    def __init__(self):
        self.round_trips: list = []  # each a pipeline's publishes, or ("subscribe" | "unsubscribe", channels)
        self.fail = False
        self.answer = asyncio.Event()

    def pipeline(self, transaction):
        redis = self

        class Pipeline:
            def __init__(self):
                self.sent = []

            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                return False

            def publish(self, channel, message):
                self.sent.append((channel, message))

            async def execute(self):
                redis.round_trips.append(self.sent)
                await redis.answer.wait()  # the round trip lasts until the test lets it answer
                if redis.fail:
                    raise ConnectionError("redis gone")

        return Pipeline()


class FakePubSub:
    """The pub/sub connection: records each SUBSCRIBE and UNSUBSCRIBE with the channels it named."""

    def __init__(self, redis: FakeRedis):
        self.redis = redis

    async def subscribe(self, *channels):
        self.redis.round_trips.append(("subscribe", channels))

    async def unsubscribe(self, *channels):
        self.redis.round_trips.append(("unsubscribe", channels))


def shard() -> tuple[BatchedShardConnection, FakeRedis]:
    connection = BatchedShardConnection({"address": "redis://127.0.0.1:6379/3"}, channel_layer=None)
    connection._redis = redis = FakeRedis()
    connection._pubsub = FakePubSub(redis)
    connection._ensure_redis = lambda: None
    connection._ensure_receiver = lambda: None
    return connection, redis


async def round_trip_under_way(connection) -> asyncio.Future:
    """A publish of b"1" whose round trip is under way (the fake holds it until `answer` is set)."""
    first = asyncio.ensure_future(connection.publish("g", b"1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return first


def test_publishes_during_a_round_trip_go_together_in_order():
    async def scenario():
        connection, redis = shard()
        first = await round_trip_under_way(connection)
        rest = [asyncio.ensure_future(connection.publish("g", str(n).encode())) for n in range(2, 6)]
        await asyncio.sleep(0)
        assert not first.done()  # waits for its round trip
        redis.answer.set()
        await asyncio.gather(first, *rest)
        return redis.round_trips

    assert run(scenario) == [[("g", b"1")], [("g", b"2"), ("g", b"3"), ("g", b"4"), ("g", b"5")]]


def test_subscribes_and_unsubscribes_during_a_round_trip_go_as_one_command_each_in_order():
    """A node's sockets reopening together: one SUBSCRIBE for all their channels, not one write each."""

    async def scenario():
        connection, redis = shard()
        first = await round_trip_under_way(connection)
        rest = [asyncio.ensure_future(connection.subscribe(f"c{n}")) for n in range(4)]
        rest.append(asyncio.ensure_future(connection.subscribe("c0")))  # already asked: named once
        rest.append(asyncio.ensure_future(connection.unsubscribe("c1")))
        rest.append(asyncio.ensure_future(connection.unsubscribe("never-subscribed")))
        rest.append(asyncio.ensure_future(connection.publish("g", b"2")))
        rest.append(asyncio.ensure_future(connection.subscribe("c1")))  # again, after its unsubscribe
        await asyncio.sleep(0)
        redis.answer.set()
        await asyncio.gather(first, *rest)
        return redis.round_trips, connection._subscribed_to

    round_trips, subscribed = run(scenario)
    assert round_trips == [
        [("g", b"1")],
        ("subscribe", ("c0", "c1", "c2", "c3")),
        ("unsubscribe", ("c1",)),
        [("g", b"2")],
        ("subscribe", ("c1",)),
    ]
    assert subscribed == {"c0", "c1", "c2", "c3"}


def test_a_failed_round_trip_fails_each_of_its_publishes_and_the_next_ones_go_on():
    async def scenario():
        connection, redis = shard()
        redis.fail = True
        redis.answer.set()
        results = await asyncio.gather(*(connection.publish("g", b"x") for _ in range(3)), return_exceptions=True)
        redis.fail = False
        await connection.publish("g", b"y")
        return results, redis.round_trips[-1]

    results, last = run(scenario)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert last == [("g", b"y")]


def test_the_layer_uses_batched_shards():
    async def scenario():
        layer = BatchedPubSubChannelLayer(hosts=["redis://127.0.0.1:6379/3"], prefix="t")
        return layer._get_layer()._shards

    shards = run(scenario)
    assert shards and all(isinstance(s, BatchedShardConnection) for s in shards)


@pytest.mark.parametrize("setting", ["core.channel_layer.BatchedPubSubChannelLayer"])
def test_production_settings_name_the_batched_layer(setting):
    from pathlib import Path

    assert setting in (Path(__file__).resolve().parent.parent / "config" / "settings.py").read_text()
