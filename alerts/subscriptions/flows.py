"""The one path of every subscription change: decide (service), write the repository, then journal the Target on
``alerts.subscriptions`` (no contact data). Called by the API views and by the SMS channel's inbound STOP/START.

Order: the repository write comes first, the journal second (``Runtime.submit``), so a Target on the topic always
describes a state the repository holds; the version in it increases with every change, so a consumer that sees an
older version after a newer one keeps the newer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from alerts.subscriptions.models import ConfirmIn, StoredChannel, Subscription, SubscriptionIn, SubscriptionPatch
from alerts.subscriptions.repository import SUBSCRIPTIONS, SubscriptionRepository
from alerts.subscriptions.service import (
    check_code_live,
    confirmed_by_code,
    envelope_of,
    new_subscription_id,
    new_token,
    parse_areas,
    parse_channels,
    parse_languages,
    parse_tier_choice,
    pick_channel,
    sig_matches,
    target_of,
    token_matches,
)
from emergency.errors import Conflict, Forbidden, NotFound
from emergency.events import Envelope, utcnow
from emergency.netguard import parse_allow_hosts
from emergency.store.base import Accepted, Store
from emergency.stream.topics import SUBSCRIPTIONS as SUBSCRIPTIONS_TOPIC
from mapping.regions import Region, load_region

Submit = Callable[..., Awaitable[Accepted]]  # Runtime.submit(event, topic, *, on_conflict=)
NOT_YOURS = "not found, or the token is not this subscription's"


def repository(store: Store) -> SubscriptionRepository:
    """The store's subscription repository."""
    return store.repository(SUBSCRIPTIONS)


async def _region(region_dir: Path | None) -> Region | None:
    """The region's zones (loaded once per process, off the event loop); None when it cannot load."""
    if region_dir is None:
        return None
    try:
        return await asyncio.to_thread(load_region, region_dir)
    except Exception:
        return None


async def _journal(*, submit: Submit, sub: Subscription) -> None:
    """Journal the subscription's Target for the topic (the repository already holds it)."""
    event: Envelope = envelope_of(target_of(sub), now=utcnow())
    await submit(event, SUBSCRIPTIONS_TOPIC, on_conflict="append")


async def create_subscription(*, store: Store, submit: Submit, payload: SubscriptionIn, region_dir: Path | None,
                              webhook_allow_hosts: str) -> tuple[Subscription, str, dict[str, str]]:
    """A new subscription: (what was stored, the management token shown once, generated webhook secrets)."""
    now = utcnow()
    areas = parse_areas(payload.areas, region=await _region(region_dir) if _has_zone(payload.areas) else None)
    channels, secrets_made = parse_channels(payload.channels, allow_hosts=parse_allow_hosts(webhook_allow_hosts),
                                            now=now)
    token, token_hash = new_token()
    sub = Subscription(id=new_subscription_id(), token_hash=token_hash, version=1, areas=areas,
                       tiers=parse_tier_choice(payload.tiers), languages=parse_languages(payload.languages),
                       channels=channels, created_at=now, updated_at=now)
    await repository(store).create(sub)
    await _journal(submit=submit, sub=sub)
    return sub, token, secrets_made


def _has_zone(areas: list[dict]) -> bool:
    return any(isinstance(a, dict) and "zone" in a for a in areas)


async def held_subscription(*, store: Store, subscription_id: str, token: str | None) -> Subscription:
    """The subscription the token manages; NotFound (the same answer whether it exists or not) otherwise."""
    sub = await repository(store).get(subscription_id)
    if sub is None or not token_matches(token=token, token_hash=sub.token_hash):
        raise NotFound("subscription", NOT_YOURS)
    return sub


async def _save(*, store: Store, submit: Submit, old: Subscription, new: Subscription) -> Subscription:
    """Write ``new`` over ``old`` (Conflict when it changed meanwhile), then journal it."""
    if not await repository(store).save(new, expected_version=old.version):
        raise Conflict("subscription", "it was changed at the same time; read it again and retry")
    await _journal(submit=submit, sub=new)
    return new


async def patch_subscription(*, store: Store, submit: Submit, subscription_id: str, token: str | None,
                             payload: SubscriptionPatch, region_dir: Path | None, webhook_allow_hosts: str
                             ) -> tuple[Subscription, dict[str, str]]:
    """Replace the fields given; a changed address or number needs a new confirmation (a new code)."""
    old = await held_subscription(store=store, subscription_id=subscription_id, token=token)
    now = utcnow()
    update: dict = {"version": old.version + 1, "updated_at": now}
    made: dict[str, str] = {}
    if payload.areas is not None:
        update["areas"] = parse_areas(payload.areas, region=await _region(region_dir)
                                      if _has_zone(payload.areas) else None)
    if payload.channels is not None:
        update["channels"], made = parse_channels(payload.channels, now=now, existing=old.channels,
                                                  allow_hosts=parse_allow_hosts(webhook_allow_hosts))
    if payload.languages is not None:
        update["languages"] = parse_languages(payload.languages)
    if payload.tiers is not None:
        update["tiers"] = parse_tier_choice(payload.tiers)
    new = old.model_copy(update=update)
    return await _save(store=store, submit=submit, old=old, new=new), made


async def delete_subscription(*, store: Store, submit: Submit, subscription_id: str, token: str | None) -> None:
    """Delete the subscription: its contacts are erased, a ``deleted`` Target is journaled."""
    old = await held_subscription(store=store, subscription_id=subscription_id, token=token)
    await _erase(store=store, submit=submit, old=old)


async def _erase(*, store: Store, submit: Submit, old: Subscription) -> None:
    now = utcnow()
    new = old.model_copy(update={"version": old.version + 1, "updated_at": now, "deleted_at": now, "channels": [],
                                 "areas": []})
    await _save(store=store, submit=submit, old=old, new=new)


async def code_checked(*, channels: list[StoredChannel], payload: ConfirmIn,
                       count_attempt: Callable[[str], Awaitable[int]]) -> tuple[StoredChannel, bool]:
    """The channel a confirmation names, confirmed by its code (one attempt counted through ``count_attempt``
    with the channel id); (the channel, whether it was confirmed now). ValidationFailed ``code`` otherwise."""
    channel = pick_channel(channels, payload.channel)
    if channel.confirmed:
        return channel, False
    check_code_live(channel, now=utcnow())
    attempts = await count_attempt(channel.channel_id)
    return confirmed_by_code(channel, code=payload.code, attempts=attempts), True


async def confirm_channel(*, store: Store, submit: Submit, subscription_id: str, token: str | None,
                          payload: ConfirmIn) -> tuple[Subscription, StoredChannel]:
    """Check the code (constant time; at most ``MAX_CODE_ATTEMPTS`` tries; 24 h) and mark the channel confirmed."""
    sub = await held_subscription(store=store, subscription_id=subscription_id, token=token)
    done, changed = await code_checked(channels=sub.channels, payload=payload,
                                       count_attempt=lambda cid: repository(store).count_attempt(sub.id, cid))
    if not changed:
        return sub, done
    new = sub.model_copy(update={"version": sub.version + 1, "updated_at": utcnow(),
                                 "channels": [done if c.channel_id == done.channel_id else c for c in sub.channels]})
    return await _save(store=store, submit=submit, old=sub, new=new), done


async def check_unsubscribe(*, store: Store, subscription_id: str, channel_id: str, sig: str) -> None:
    """Forbidden (``sig``) unless ``sig`` signs this channel's unsubscribe link."""
    key = await repository(store).unsubscribe_key()
    if not sig_matches(key=key, subscription_id=subscription_id, channel_id=channel_id, sig=sig):
        raise Forbidden("sig", "this unsubscribe link is not valid")


async def unsubscribe_channel(*, store: Store, submit: Submit, subscription_id: str, channel_id: str,
                              sig: str) -> None:
    """One-click unsubscribe (RFC 8058): remove the channel (the subscription when it was the last); idempotent."""
    await check_unsubscribe(store=store, subscription_id=subscription_id, channel_id=channel_id, sig=sig)
    for _ in range(3):  # a concurrent change: read again
        sub = await repository(store).get(subscription_id)
        if sub is None or all(c.channel_id != channel_id for c in sub.channels):
            return
        rest = [c for c in sub.channels if c.channel_id != channel_id]
        try:
            if not rest:
                await _erase(store=store, submit=submit, old=sub)
            else:
                await _save(store=store, submit=submit, old=sub,
                            new=sub.model_copy(update={"version": sub.version + 1, "updated_at": utcnow(),
                                                       "channels": rest}))
            return
        except Conflict:
            continue
    raise Conflict("subscription", "it was changed at the same time; try again")


async def set_number_opt_out(*, store: Store, submit: Submit, number: str, stopped: bool) -> int:
    """SMS STOP (``stopped``) or START from ``number`` (E.164) for every sms channel on it, journaled; how many
    channels changed. The SMS channel's inbound handler calls this."""
    repo = repository(store)
    before = {t.subscription_id: t.version for t in await repo.targets_with_number(number)}
    changed = await repo.set_number_opt_out(number, stopped)
    if changed:
        now = utcnow()
        for target in await repo.targets_with_number(number):
            if target.version > before.get(target.subscription_id, 0):
                await submit(envelope_of(target, now=now), SUBSCRIPTIONS_TOPIC, on_conflict="append")
    return changed
