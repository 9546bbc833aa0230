"""Author handles never reach a public surface through a social item's id or links (issue 10, P2).

Posts come from the real adapter fixtures (a Twitter filtered-stream line, a Mastodon status, a
Bluesky Jetstream event), each carrying a link that names its author's account, as such posts do;
the Mastodon post is sent with its status URL as id, as the probe's collector did. They go through
the real webhook, broker and projector, and the test reads every public surface: /api/v1/reports,
/api/v1/events/{id}, and the /ws/cop deltas."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import websockets

from emergency.store import EventQuery
from feeds.social.adapters.jetstream import parse_event
from feeds.social.adapters.mastodon import parse_status
from feeds.social.adapters.twitter import parse_line
from feeds.social.links import names_account, split_links
from feeds.social.pipeline import public_ref
from tests.conftest import eventually
from tests.feeds.social.test_adapters import CAPTURE, FIXTURES, STATUSES
from tests.feeds.social.test_streams import RULES

PUBLIC_LINK = "https://www.portland.gov/transportation/news"


def fresh(post, minutes: int) -> dict:
    """The post as a collector sends it, created ``minutes`` ago."""
    return {**post.model_dump(mode="json", exclude_none=True),
            "created_at": (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()}


def fixture_posts() -> tuple[list[dict], list[str], list[str]]:
    """(posts, their authors' handles and account ids, the links naming them)."""
    line = json.loads((FIXTURES / "twitter_filtered_stream.jsonl").read_text().splitlines()[0])
    user = line["includes"]["users"][0]
    tweet_link = f"https://twitter.com/{user['username']}/status/{line['data']['id']}"
    line["data"]["entities"]["urls"] = [{"expanded_url": tweet_link}, {"expanded_url": PUBLIC_LINK}]
    tweet = parse_line(line)

    status = copy.deepcopy(STATUSES[0])
    status["card"] = {"url": status["account"]["url"]}  # a card for the author's own profile page
    [toot] = parse_status(status)
    toot = toot.model_copy(update={"id": status["url"]})  # https://social.example/@user0/1135…

    event = next(e for e in map(json.loads, CAPTURE) if (e.get("commit") or {}).get("collection") == "app.bsky.feed.post"
                 and any(k in (e["commit"].get("record") or {}).get("text", "").lower() for k in RULES["keywords"]))
    did, rkey = event["did"], event["commit"]["rkey"]
    profile_link = f"https://bsky.app/profile/{did}/post/{rkey}"
    event["commit"]["record"]["facets"] = [{"features": [{"$type": "app.bsky.richtext.facet#link",
                                                          "uri": profile_link}]}]
    skeet = parse_event(event)
    handles = [user["username"], user["id"], status["account"]["acct"], status["account"]["username"], did]
    links = [tweet_link, status["account"]["url"], profile_link]
    return [fresh(tweet, 3), fresh(toot, 2), fresh(skeet, 1)], handles, links


def test_links_that_name_an_account_are_told_apart_from_the_others():
    private = ["https://twitter.com/person1/status/1860000000000000001", "https://x.com/someone",
               "https://mobile.twitter.com/i/web/status/1", "https://t.co/abc", "https://social.example/@user0",
               "https://social.example/@user0/113500000000001000", "https://bsky.app/profile/did:plc:abc/post/3k",
               "https://social.example/users/user0/statuses/1", "https://www.reddit.com/u/someone/",
               "https://www.youtube.com/@channel", "at://did:plc:abc/app.bsky.feed.post/3k", "mailto:a@b.example",
               "https://www.facebook.com/some.person", "not a url"]
    public = [PUBLIC_LINK, "https://www.youtube.com/watch?v=V5lDo-jw8mA", "https://social.example/tags/pdxstorm",
              "https://twitter.com/hashtag/pdxstorm", "https://www.oregonlive.com/weather/2026/11/storm.html",
              "https://bsky.app/search?q=storm"]
    assert [u for u in private if not names_account(u)] == []
    assert [u for u in public if names_account(u)] == []
    assert split_links([public[0], private[0], public[1]]) == ([public[0], public[1]], [private[0]])


def test_every_post_id_is_digested_stably():
    for post_id in ("1860000000000000001", "https://mastodon.example/@alice/109900000000000001",
                    "at://did:plc:abc/app.bsky.feed.post/3k"):
        ref = public_ref(post_id)
        assert ref == public_ref(post_id) and len(ref.removeprefix("at:")) == 32
        assert "alice" not in ref and "did:plc" not in ref and post_id not in ref


async def test_no_author_handle_reaches_a_public_surface(system):
    posts, handles, account_links = fixture_posts()
    coordinator = system.auth("coordinator")
    assert (await system.http.put("/api/v1/social/rules", headers=coordinator, json={
        **RULES, "keywords": [*RULES["keywords"], "tree down"], "default_lexicon": True})).status_code == 200
    await eventually(lambda: system.runtime.tail.ready.is_set())
    deltas: list[str] = []
    async with websockets.connect(f"{system.ws_url}/ws/cop") as ws:
        await eventually(lambda: len(system.runtime.cop_live.hub) >= 1)
        r = await system.http.post("/api/v1/social/posts", headers=system.auth("collector"), json={"posts": posts})
        assert r.status_code == 200, r.text
        decisions = r.json()["decisions"]
        assert [d["dropped"] for d in decisions] == [None, None, None], decisions
        assert await system.runtime.wait_applied(timeout_s=30)
        stored = {e.id: e for e in await system.runtime.store.query_events(EventQuery(kinds=("social_post",)))}
        ids = set(stored)
        assert ids == {f"social:{p['source']}:{public_ref(p['id'])}" for p in posts} or len(ids) == 3, ids

        async def all_deltas() -> bool:
            try:
                while True:
                    deltas.append(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                pass
            return ids <= {json.loads(d)["feature"]["id"] for d in deltas if json.loads(d).get("type") == "upsert"}

        await eventually(all_deltas)

    reports = (await system.http.get("/api/v1/reports", params={"kind": "social_post"})).text
    secrets = [*handles, *account_links, *(p["id"] for p in posts)]
    for surface in [reports, *deltas]:
        for secret in secrets:
            assert secret not in surface, (secret, surface[:300])
    for event_id in ids:
        r = await system.http.get(f"/api/v1/events/{quote(event_id, safe='')}")
        assert r.status_code == 200, r.text
        assert [s for s in secrets if s in r.text] == []
    assert ids == {f"social:{p['source']}:{public_ref(p['id'])}" for p in posts}
    # links that name no account stay public; the others are kept, privately, for operators
    tweet = stored[f"social:twitter:{public_ref(posts[0]['id'])}"]
    assert tweet.attributes["links"] == [PUBLIC_LINK] and PUBLIC_LINK in reports
    assert tweet.attributes["private"]["links"] == [account_links[0]]
    assert all(e.attributes["private"]["links"] for e in stored.values())
    assert {e.attributes["private"]["post_ids"][0] for e in stored.values()} == {p["id"] for p in posts}


@pytest.mark.parametrize("stream_id", ["https://mastodon.example/@alice/109900000000000001"])
async def test_the_digested_id_is_found_again_after_a_restart(stream_id, sqlite_url):
    """Resume relies on the private original id: a journaled cluster with a digested id is read back."""
    from emergency.store import open_store
    from feeds.social.models import Post
    from feeds.social.pipeline import ClusterPublisher, SocialPipeline
    from feeds.social.resume import seed_from_journal
    from feeds.social.service import store_sink

    store = await open_store(sqlite_url)
    try:
        text = "Tree down blocking SE Hawthorne Blvd at 20th, both lanes closed"
        now = datetime.now(UTC)
        post = Post(id=stream_id, source="mastodon", text=text, author="alice", created_at=now,
                    links=["https://mastodon.example/@alice", PUBLIC_LINK])
        pipeline = SocialPipeline()
        pipeline.process(post)
        assert await ClusterPublisher(pipeline, store_sink(store), stream="s").flush() == 1
        again = SocialPipeline()
        assert await seed_from_journal(again, store, stream="s") == 1
        [cluster] = again.deduper.clusters.values()
        assert cluster.info.post.links == [PUBLIC_LINK, "https://mastodon.example/@alice"]
        copy_ = Post(id="https://mastodon.example/@bob/2", source="mastodon", text=text, author="bob", created_at=now)
        again.process(copy_)
        published = ClusterPublisher(again, store_sink(store), stream="s")
        assert await published.flush() == 1 and published.stats["updated"] == 1  # the same item, a new version
    finally:
        await store.close()
