"""The SSRF guard refuses URLs that reach this machine or its private networks, and names the field."""

import pytest

from emergency.errors import ValidationFailed
from emergency.netguard import check_outbound_url, parse_allow_hosts

REFUSED = [
    ("ftp://example.org/x", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://localhost:9000/hook", "local name"),
    ("http://metadata.google.internal/", "local name"),
    ("http://user:pw@example.org/hook", "credentials"),
    ("https:///nohost", "no host"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
async def test_private_and_malformed_urls_are_refused_naming_the_field(url, why):
    with pytest.raises(ValidationFailed) as err:
        await check_outbound_url(url, field="channels[0].url")
    assert err.value.field == "channels[0].url"
    assert why in err.value.message


async def test_a_name_resolving_to_loopback_is_refused():
    """A plain name is resolved and every address checked: this machine's own host name resolves locally."""
    import socket

    name = socket.gethostname()
    address = socket.getaddrinfo(name, 80)[0][4][0]
    with pytest.raises(ValidationFailed) as err:
        await check_outbound_url(f"http://{name}:8000/x", field="url")
    assert ("resolves to a" in err.value.message) and address


async def test_a_trailing_dot_does_not_escape_the_local_name_rule():
    with pytest.raises(ValidationFailed) as err:
        await check_outbound_url("http://localhost.:8000/x", field="url")
    assert "local name" in err.value.message


async def test_the_allow_list_lets_a_named_host_through():
    allow = parse_allow_hosts(" 127.0.0.1 , Hooks.Test ")
    assert allow == {"127.0.0.1", "hooks.test"}
    await check_outbound_url("http://127.0.0.1:8123/hook", field="url", allow_hosts=allow)
    with pytest.raises(ValidationFailed):
        await check_outbound_url("http://127.0.0.2:8123/hook", field="url", allow_hosts=allow)


async def test_a_public_literal_address_passes_without_resolving():
    await check_outbound_url("https://93.184.216.34/hook", field="url")
