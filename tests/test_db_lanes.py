"""`core.live.in_db_thread`'s lanes: the node's rounds (opens, liveness writes, sweeps) have threads of their own,
so a pool full of the sockets' own calls (10,000 closing at once) cannot hold them up."""

import asyncio
import threading

from core.live import in_db_thread
from tests.ws import run


def test_a_lane_runs_while_every_thread_of_the_shared_pool_is_busy(settings):
    settings.WEBSOCKET = {**settings.WEBSOCKET, "DB_THREAD_POOL": True}
    release = threading.Event()

    def busy():
        release.wait(10)

    async def scenario():
        # More calls than the shared pool has threads (at most 32), each holding its thread until released.
        blocked = [asyncio.ensure_future(in_db_thread(busy)()) for _ in range(40)]
        await asyncio.sleep(0.2)
        try:
            thread = await asyncio.wait_for(in_db_thread(lambda: threading.current_thread().name, lane="node")(), 5)
            shared_still_busy = not all(b.done() for b in blocked)
        finally:
            release.set()
            await asyncio.gather(*blocked)
        return thread, shared_still_busy

    thread, shared_still_busy = run(scenario)
    assert thread.startswith("db-node") and shared_still_busy


def test_each_lane_is_one_thread_of_its_own(settings):
    settings.WEBSOCKET = {**settings.WEBSOCKET, "DB_THREAD_POOL": True}

    async def scenario():
        name = lambda: threading.current_thread().name  # noqa: E731
        calls = [in_db_thread(name, lane=lane)() for lane in ("open", "open", "node", "node")]
        return await asyncio.gather(*calls, in_db_thread(name)())

    open_a, open_b, node_a, node_b, shared = run(scenario)
    assert open_a == open_b and node_a == node_b  # one thread per lane
    assert len({open_a, node_a, shared}) == 3 and open_a.startswith("db-open")
