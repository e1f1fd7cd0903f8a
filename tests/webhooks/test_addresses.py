"""The SSRF guard (issue 18): where webhooks may not go, checked at save and at every send."""

import ipaddress
import socket

import pytest

from core.errors import DomainError
from webhooks.addresses import address_refusal, target_check


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "not public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_inside_addresses_are_refused(address, why):
    assert address_refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def resolving(monkeypatch, table: dict[str, list[str]]):
    """getaddrinfo answering from `table` (host -> addresses); counts the lookups."""
    calls = []

    def fake(host, port, *args, **kwargs):
        calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def test_a_name_resolving_to_loopback_is_refused_unless_allowed():
    # `localhost` resolves (from /etc/hosts, no DNS needed) to 127.0.0.1 and perhaps ::1.
    with pytest.raises(DomainError) as refused:
        target_check("http://localhost:8080/hook", allow_private=False)
    assert refused.value.code == "address_refused"
    assert "loopback" in refused.value.message
    target = target_check("http://localhost:8080/hook?x=1", allow_private=True)
    assert (target.host, target.port, target.path) == ("localhost", 8080, "/hook?x=1")
    assert ipaddress.ip_address(target.address).is_loopback


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://0.0.0.0:8000/",
        "http://[::1]/",
        "http://[::ffff:7f00:1]/",
        "https://169.254.169.254/latest",
    ],
)
def test_literal_inside_addresses_are_refused(url):
    with pytest.raises(DomainError) as refused:
        target_check(url, allow_private=False)
    assert refused.value.code == "address_refused"


def test_a_name_with_one_public_and_one_private_address_is_refused(monkeypatch):
    resolving(monkeypatch, {"mixed.example": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(DomainError, match=r"10\.0\.0\.5, a private address"):
        target_check("https://mixed.example/hook", allow_private=False)


def test_a_public_name_gives_the_address_to_connect_to(monkeypatch):
    calls = resolving(monkeypatch, {"hooks.example": ["93.184.215.14"]})
    target = target_check("https://hooks.example/in", allow_private=False)
    assert (target.scheme, target.host, target.port, target.address) == ("https", "hooks.example", 443, "93.184.215.14")
    assert calls == ["hooks.example"]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example/", "invalid_url"),
        ("http:///nohost", "invalid_url"),
        ("https://user:pw@hooks.example/", "invalid_url"),
        ("https://hooks.example:99999/", "invalid_url"),
        ("https://nowhere.invalid/", "unresolvable_host"),
    ],
)
def test_urls_we_do_not_send_to(monkeypatch, url, code):
    resolving(monkeypatch, {"hooks.example": ["93.184.215.14"]})
    with pytest.raises(DomainError) as refused:
        target_check(url, allow_private=False)
    assert refused.value.code == code
