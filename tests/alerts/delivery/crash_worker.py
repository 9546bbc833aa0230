"""A worker process for the crash test: the stream processors, the fan-out and a channel worker posting to the
test's HTTP peer; settings from the environment (EMERGENCY_*), subscriptions from the JSON file in argv[1]."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alerts.delivery.models import ChannelType
from emergency.assembly.runtime import Runtime
from emergency.config import Settings
from tests.alerts.delivery.peers import FileDirectory, PeerChannel


async def main(path: Path) -> None:
    directory = FileDirectory.load(path)
    runtime = Runtime(Settings(), directory=directory, channels={ChannelType.webhook: PeerChannel()})
    await runtime.start(gateways=False)
    print("worker started", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
