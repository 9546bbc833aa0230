"""SMS STOP and START reach every part that texts a number: the subscriptions (journaled on
``alerts.subscriptions``), the vulnerable-persons registry's check-ins and caregivers (recorded in the registry's
audit; nothing of it on a topic) and the critical facilities' operators (recorded on the facility, shown on the
dashboard; a STOP from the contact a notification waits on escalates it at once). The SMS channel's inbound
handler (``alerts.delivery.channels.sms.keyword_reply``) calls :class:`SmsOptOuts`; the assembly hands it the
other domains' opt-outs (``also``: the citizen reporters' status messages).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from alerts.facilities import flows as facilities
from alerts.registry import flows as registry
from alerts.subscriptions.flows import Submit
from alerts.subscriptions.flows import set_number_opt_out as subscriptions_opt_out
from emergency.store.base import Store

log = logging.getLogger(__name__)


class SmsOptOuts:
    """The SMS channel's ``OptOuts``: one STOP or START from a number, applied wherever that number is texted."""

    def __init__(self, *, store: Store, submit: Submit,
                 also: Sequence[Callable[[str, bool], Awaitable[object]]] = ()) -> None:
        self.store, self.submit, self.also = store, submit, tuple(also)

    async def set_number_opt_out(self, number: str, stopped: bool) -> None:
        subs = await subscriptions_opt_out(store=self.store, submit=self.submit, number=number, stopped=stopped)
        regs = await registry.set_number_opt_out(store=self.store, number=number, stopped=stopped)
        facs = await facilities.set_number_opt_out(store=self.store, number=number, stopped=stopped)
        for opt_out in self.also:
            await opt_out(number, stopped)
        log.info("sms %s: %d subscription channel(s), %d registrant(s), %d facility(ies)",
                 "STOP" if stopped else "START", subs, regs, facs)
