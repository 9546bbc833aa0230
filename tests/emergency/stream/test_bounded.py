"""``bounded``: a broker call given up at its deadline; an offset commit let finish when its caller is cancelled
(a cut commit leaves aiokafka's shielded request to fail unseen: "Task exception was never retrieved")."""

from __future__ import annotations

import asyncio
import gc

import pytest

from emergency.stream.bounded import BrokerTimeout, bounded


async def _slow(done: list[str], seconds: float, fail: bool = False) -> str:
    await asyncio.sleep(seconds)
    done.append("finished")
    if fail:
        raise ConnectionError("Connection closed")
    return "ok"


async def test_a_call_past_its_deadline_is_given_up():
    done: list[str] = []
    with pytest.raises(BrokerTimeout, match="commit did not finish within 0.05 s"):
        await bounded(_slow(done, 1.0), 0.05, "commit")
    assert done == []


@pytest.mark.parametrize("finish", [True, False])
async def test_a_commit_is_let_finish_when_its_caller_is_cancelled(finish):
    done: list[str] = []
    caller = asyncio.create_task(bounded(_slow(done, 0.2), 5, "offset commit", finish_on_cancel=finish))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert done == (["finished"] if finish else [])  # without: cut in the middle


async def _commit_as_aiokafka_does(done: list[str]) -> str:
    """aiokafka's ``GroupCoordinator.commit_offsets``: the request is a shielded inner task."""
    return await asyncio.shield(_slow(done, 0.1, fail=True))


@pytest.mark.parametrize("finish", [True, False])
async def test_a_commit_failing_after_its_caller_was_cancelled_is_seen_not_left_unretrieved(caplog, finish):
    done: list[str] = []
    caller = asyncio.create_task(bounded(_commit_as_aiokafka_does(done), 5, "offset commit", finish_on_cancel=finish))
    await asyncio.sleep(0.02)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.2)  # the inner request fails now, whoever waits for it
    gc.collect()
    assert done == ["finished"]
    assert ("exception was never retrieved" in caplog.text) is not finish  # without: the shutdown complaint
