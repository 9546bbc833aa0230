"""Outbound URLs guarded against server-side request forgery.

Every URL the system will call on someone's behalf (a subscriber's webhook, a feed an admin adds) is
checked before it is stored and again, with a fresh DNS answer, just before each call (DNS may change
between the two). Refused: schemes other than http(s), credentials in the URL, and any host that is or
resolves to a loopback, private (RFC 1918, RFC 4193), link-local (169.254/16 — cloud metadata — fe80::/10),
multicast, reserved or unspecified address, or the IPv4-mapped/6to4 forms of those — unless the host is
named in an allow list (``EMERGENCY_WEBHOOK_ALLOW_HOSTS``; tests put 127.0.0.1 there).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from emergency.errors import ValidationFailed

MAX_URL_LENGTH = 2048


def parse_allow_hosts(text: str) -> frozenset[str]:
    """``"a.example, 127.0.0.1"`` → the set of hosts (lower case) allowed despite the private-address rule."""
    return frozenset(h.strip().lower().strip("[]") for h in text.split(",") if h.strip())


def _forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` may not be called, or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            return _forbidden_address(mapped)
    for attr, what in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                       ("is_link_local", "link-local"), ("is_private", "private"), ("is_multicast", "multicast"),
                       ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return what
    if not ip.is_global:
        return "not globally routable"
    return None


def check_url_shape(url: str, *, field: str, allow_hosts: Iterable[str] = ()) -> tuple[str, int, bool]:
    """Check scheme, length, credentials and a literal address; return (host, port, allowed-by-list).
    Raises ValidationFailed naming ``field``."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(field, f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(field, f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed(field, "must be an http or https URL")
    if not parts.hostname:
        raise ValidationFailed(field, "the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(field, "credentials in the URL are not accepted")
    host = parts.hostname.lower().rstrip(".")
    port = port or (443 if parts.scheme == "https" else 80)
    allowed = host in {h.lower() for h in allow_hosts}
    if not allowed:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and (why := _forbidden_address(literal)):
            raise ValidationFailed(field, f"the host is a {why} address, which the server will not call")
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise ValidationFailed(field, "the host is a local name, which the server will not call")
    return host, port, allowed


async def check_outbound_url(url: str, *, field: str, allow_hosts: Iterable[str] = (), resolve: bool = True) -> None:
    """Refuse (ValidationFailed naming ``field``) a URL the server must not call: see the module docstring.
    With ``resolve`` every address the host resolves to is checked; a host that does not resolve is refused."""
    host, port, allowed = check_url_shape(url, field=field, allow_hosts=allow_hosts)
    if allowed or not resolve:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise ValidationFailed(field, "the host does not resolve") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if why := _forbidden_address(ip):
            raise ValidationFailed(field, f"the host resolves to a {why} address, which the server will not call")
