"""The WebSocket hub's delivery policy: per-client queues, slow clients dropped, others unaffected.

The peer here is a minimal in-process stand-in with ``send_text``/``close`` (the hub's whole
interface to a client), so the test can make one client stall on purpose; the real WebSocket path
is covered end to end in test_alerts_push.py and test_browser.py.
"""

from __future__ import annotations

import asyncio

from emergency.hub import CLOSE_TRY_AGAIN_LATER, Hub
from tests.conftest import eventually


class Peer:
    def __init__(self, stalled: bool = False) -> None:
        self.received: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        if not stalled:
            self.gate.set()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.received.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_a_stalled_client_is_dropped_without_delaying_the_others():
    hub: Hub[None] = Hub(queue_size=5)
    fast, slow = Peer(), Peer(stalled=True)
    hub.add(fast, None)
    hub.add(slow, None)
    for i in range(7):
        hub.send([fast, slow], f"m{i}")
        await asyncio.sleep(0.01)  # the fast client keeps up; the stalled one's queue fills
    await eventually(lambda: len(fast.received) == 7, timeout=5)
    assert fast.received == [f"m{i}" for i in range(7)]
    await eventually(lambda: slow.closed is not None, timeout=5)
    assert slow.closed[0] == CLOSE_TRY_AGAIN_LATER
    assert list(hub.clients) == [fast]
    assert hub.send([fast, slow], "after") == 1


async def test_a_failing_client_is_removed():
    class Broken(Peer):
        async def send_text(self, text: str) -> None:
            raise ConnectionResetError("peer went away")

    hub: Hub[None] = Hub()
    broken = Broken()
    hub.add(broken, None)
    hub.send([broken], "x")
    await eventually(lambda: len(hub) == 0, timeout=5)


async def test_a_client_that_never_takes_a_message_is_closed_with_1013():
    hub: Hub[None] = Hub(send_timeout_s=0.2)
    stuck = Peer(stalled=True)  # its send never completes: the network buffer is full and it does not read
    hub.add(stuck, None)
    hub.send([stuck], "m")
    await eventually(lambda: stuck.closed is not None, timeout=5)
    assert stuck.closed[0] == CLOSE_TRY_AGAIN_LATER and "not taken within 0.2 s" in stuck.closed[1]
    assert len(hub) == 0


async def test_a_client_with_too_many_bytes_waiting_is_closed_with_1013():
    hub: Hub[None] = Hub(max_bytes=1000)
    slow, fast = Peer(stalled=True), Peer()
    hub.add(slow, None)
    hub.add(fast, None)
    big = "x" * 400
    assert hub.send([slow, fast], big) == 2
    await asyncio.sleep(0.01)  # the stalled client's writer holds the first (unsent); the second waits queued
    assert hub.send([slow, fast], big) == 2
    await asyncio.sleep(0.01)
    assert hub.send([slow, fast], big) == 1  # 1200 unsent bytes for the stalled one: dropped
    await eventually(lambda: slow.closed is not None, timeout=5)
    assert slow.closed[0] == CLOSE_TRY_AGAIN_LATER and "bytes" in slow.closed[1]
    await eventually(lambda: len(fast.received) == 3, timeout=5)


async def test_a_direct_send_to_a_stalled_client_is_bounded():
    from emergency.hub import ClientStalled

    hub: Hub[None] = Hub(send_timeout_s=0.2)
    stuck = Peer(stalled=True)
    try:
        await hub.deliver(stuck, "backlog")
    except ClientStalled:
        pass
    else:
        raise AssertionError("deliver did not give up")
    await eventually(lambda: stuck.closed is not None, timeout=5)
    assert stuck.closed[0] == CLOSE_TRY_AGAIN_LATER
