"""The one outbound HTTP wrapper: every request to a user-supplied URL goes through post().

Guard (SSRF): only http/https; the host is resolved once and EVERY address must be global
(ipaddress.is_global) unless settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE; we then connect to one of
those checked addresses ourselves (no second DNS lookup a rebinding attacker could answer
differently) and check the peer address of the connected socket again. Redirects are never
followed (http.client does not follow them; a 3xx is returned to the caller). Every request has
a timeout. Tests patch this one module.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_TIMEOUT = 10.0
MAX_BODY = 4096  # bytes of the response body kept for the delivery log


class HttpError(Exception):
    """The request could not be made or completed (DNS, connect, TLS, timeout)."""


class UnsafeURL(HttpError):
    """Refused before any socket was opened: bad scheme or a non-global address."""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    latency_ms: int = 0


def _allow_private() -> bool:
    return bool(getattr(settings, "OPERATOR_WEBHOOK_ALLOW_PRIVATE", False))


def address_allowed(ip: str, *, allow_private: bool | None = None) -> bool:
    if allow_private is None:
        allow_private = _allow_private()
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_global:
        return True
    # Even with the flag, never multicast/unspecified/reserved: nothing listens there.
    return bool(allow_private) and not (addr.is_multicast or addr.is_unspecified or addr.is_reserved)


def check_url(url: str, *, allow_private: bool | None = None) -> tuple[str, str, int]:
    """(scheme, host, port) of url, or UnsafeURL. Checks what can be checked without DNS:
    the scheme, the presence of a host, and a literal IP address or "localhost"."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeURL(f"Invalid URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("Only http:// and https:// URLs are allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Credentials in the URL are not allowed.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(str(literal), allow_private=allow_private):
        raise UnsafeURL(f"{host} is not a public address.")
    if literal is None and (host == "localhost" or host.endswith(".localhost")):
        if not (allow_private if allow_private is not None else _allow_private()):
            raise UnsafeURL(f"{host} is not a public address.")
    return parts.scheme, host, port


def resolve(host: str, port: int) -> list[str]:
    """Every address host resolves to, or UnsafeURL if any of them is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise HttpError(f"Cannot resolve {host}: {e}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise HttpError(f"Cannot resolve {host}")
    bad = [a for a in addresses if not address_allowed(a)]
    if bad:
        raise UnsafeURL(f"{host} resolves to a non-public address ({bad[0]}).")
    return addresses


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    last: OSError | None = None
    for ip in addresses:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((ip, port))
            peer = sock.getpeername()[0]
            # The address actually connected to, not only the one we asked for.
            if not address_allowed(peer):
                raise UnsafeURL(f"Connected to a non-public address ({peer}).")
            return sock
        except UnsafeURL:
            sock.close()
            raise
        except OSError as e:
            sock.close()
            last = e
    raise HttpError(f"Cannot connect: {last}")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self):
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self):
        raw = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post(
    url: str,
    *,
    data: bytes,
    headers: dict[str, str],
    timeout: float | None = None,
) -> HttpResponse:
    """POST data to url; returns the response (any status, 3xx not followed).

    Raises UnsafeURL before opening any socket when the URL or its addresses are not allowed,
    HttpError when the request fails (resolution, connection, TLS, timeout).
    """
    scheme, host, port = check_url(url)
    addresses = resolve(host, port)
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, addresses, DEFAULT_TIMEOUT if timeout is None else timeout)
    started = time.perf_counter()
    try:
        conn.request("POST", path, body=data, headers=headers)
        resp = conn.getresponse()
        body = resp.read(MAX_BODY)
        return HttpResponse(
            status=resp.status,
            headers={k.lower(): v for k, v in resp.getheaders()},
            body=body,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
    except UnsafeURL:
        raise
    except (OSError, http.client.HTTPException) as e:
        kind = "Timed out" if isinstance(e, TimeoutError | socket.timeout) else "Request failed"
        raise HttpError(f"{kind}: {e}") from None
    finally:
        conn.close()
