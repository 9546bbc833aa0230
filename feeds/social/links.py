"""Which links in a post name an account, and so stay private.

A link is kept private when its URL names a user or leads straight to one: a path segment
starting with ``@`` or ``~`` (Mastodon ``/@alice/1099``, YouTube, Medium), a segment such as
``profile``/``users``/``user``/``u`` followed by a name (Bluesky ``/profile/<handle>``,
ActivityPub ``/users/alice/statuses/1``, Reddit ``/u/x``), any path on a network whose paths
start with the account (twitter.com or x.com ``/<handle>/status/…``, t.co short links to
them, facebook.com, instagram.com, threads.net, tiktok.com; their hashtag and search pages
aside), a non-web scheme (``at://``, ``did:``, ``acct:``, ``mailto:``), and anything that does
not parse. Every other link (a news article, an agency page, a hashtag page) stays public.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

ACCOUNT_SEGMENTS = frozenset({"profile", "profiles", "users", "user", "u", "accounts", "account", "people",
                              "members", "member", "channel"})
ACCOUNT_HOSTS = frozenset({"twitter.com", "x.com", "t.co", "facebook.com", "fb.com", "instagram.com",
                           "threads.net", "threads.com", "tiktok.com", "nitter.net"})
PUBLIC_ON_ACCOUNT_HOSTS = frozenset({"hashtag", "search", "explore", "tags"})


def names_account(url: str) -> bool:
    """True when ``url`` names (or leads straight to) a user's account: see the module docstring."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return True
    if parts.scheme.lower() not in ("http", "https") or not host:
        return True
    for prefix in ("www.", "mobile.", "m."):
        host = host.removeprefix(prefix)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in ACCOUNT_HOSTS:
        return bool(segments) and segments[0].lower() not in PUBLIC_ON_ACCOUNT_HOSTS
    if any(s.startswith(("@", "~")) for s in segments):
        return True
    return any(s.lower() in ACCOUNT_SEGMENTS for s in segments[:-1])


def split_links(links: list[str]) -> tuple[list[str], list[str]]:
    """(public links, links that name an account), each in the given order."""
    public, private = [], []
    for link in links:
        (private if names_account(link) else public).append(link)
    return public, private
