"""The SSRF guard: where a webhook may be sent. Checked when an endpoint is saved and again at every send.

A URL's host is resolved and every address it resolves to must be public (not private, loopback,
link-local, multicast, reserved, unspecified, or an IPv6 form of one of those), unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES. The sender then connects to the address checked here, never
resolving the name again, so a DNS answer that changes between the check and the connection
(rebinding) cannot point the request at an inside address.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """Where one POST goes: the URL's parts, and the checked address to connect to."""

    scheme: str
    host: str  # as written in the URL (the Host header, TLS's server name)
    port: int
    path: str  # path and query
    address: str  # the checked IP the connection is made to


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not go to this address, in words; None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address in IPv6 clothing is judged as the IPv4 address it carries.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            refusal = address_refusal(embedded)
            if refusal:
                return refusal
    for test, what in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(address, test):
            return what
    if not address.is_global:
        return "not public"  # e.g. 100.64.0.0/10 (carrier-grade NAT), 192.0.0.0/24
    return None


def url_parts(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port, path and query of a webhook URL; DomainError when it is not one we send to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise DomainError(f"Not a valid URL: {error}.", "invalid_url") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("The URL must start with http:// or https:// and name a host.", "invalid_url")
    if parts.username or parts.password:
        raise DomainError("The URL must not carry a user name or password.", "invalid_url")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (a literal address: itself); DomainError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise DomainError(f"The host {host} does not resolve: {error}.", "unresolvable_host") from error
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # an IPv6 scope id is not part of it
        if address not in addresses:
            addresses.append(address)
    return addresses


def target_check(url: str, *, allow_private: bool) -> Target:
    """Where a POST to `url` may connect; DomainError (code `address_refused`) when any address is refused.

    All the host's addresses must pass, not only the one used: a name that also points inside is refused.
    """
    scheme, host, port, path = url_parts(url)
    addresses = resolve(host, port)
    if not addresses:
        raise DomainError(f"The host {host} does not resolve.", "unresolvable_host")
    if not allow_private:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise DomainError(
                    f"{host} resolves to {address}, a {refusal} address: webhooks go to public addresses only "
                    "(WEBHOOK_ALLOW_PRIVATE_ADDRESSES allows others).",
                    "address_refused",
                )
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))
