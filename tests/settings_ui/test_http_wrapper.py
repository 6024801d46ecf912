"""operator_site.lib.http: the one outbound wrapper and its private-address guard.

Guard tests prove the refusal happens before any socket opens: socket creation is made to fail
the test, and only 127.0.0.1 receivers are ever contacted.
"""

from __future__ import annotations

import socket

import pytest

from operator_site.lib import http


@pytest.fixture
def no_sockets(monkeypatch):
    """Any attempt to open a socket fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _resolve_to(monkeypatch, *addresses):
    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "gopher://x", "javascript:alert(1)",
    "http:///nohost", "http://user:pw@example.com/",
])
def test_it_refuses_other_schemes_and_odd_urls(no_sockets, url):
    with pytest.raises(http.UnsafeURL):
        http.post(url, data=b"{}", headers={})


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.5.4/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fd00::1]/",
    "http://0.0.0.0/", "http://100.64.0.1/", "http://[::ffff:10.0.0.1]/", "http://localhost:8000/",
])
def test_it_refuses_private_literal_addresses_before_connecting(no_sockets, settings, url):
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(http.UnsafeURL):
        http.post(url, data=b"{}", headers={})


def test_it_refuses_a_name_resolving_to_a_private_address(no_sockets, monkeypatch, settings):
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = False
    _resolve_to(monkeypatch, "10.0.0.7")
    with pytest.raises(http.UnsafeURL, match="10.0.0.7"):
        http.post("https://hooks.example.test/x", data=b"{}", headers={})


def test_it_refuses_when_any_resolved_address_is_private(no_sockets, monkeypatch, settings):
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = False
    # 93.184.215.34 is global; one private answer among them is enough to refuse.
    _resolve_to(monkeypatch, "93.184.215.34", "192.168.1.1")
    with pytest.raises(http.UnsafeURL):
        http.post("https://hooks.example.test/x", data=b"{}", headers={})


def test_it_checks_the_address_actually_connected_to(monkeypatch, settings, receiver):
    """The resolved address passes, but the socket's peer is what counts."""
    _resolve_to(monkeypatch, "127.0.0.1")
    checked = []
    real = http.address_allowed

    def spy(ip, **kw):
        checked.append(ip)
        return real(ip, **kw)

    monkeypatch.setattr(http, "address_allowed", spy)
    port = receiver.url.split(":")[2].split("/")[0]
    http.post(f"http://receiver.test:{port}/hook", data=b"{}", headers={})
    assert checked.count("127.0.0.1") >= 2  # once resolved, once as the connected peer
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])  # a lying resolver
    with pytest.raises(http.UnsafeURL, match="Connected to a non-public address"):
        http.post(f"http://receiver.test:{port}/hook", data=b"{}", headers={})
    assert len(receiver.requests) == 1


def test_it_posts_to_a_local_receiver_when_private_is_allowed(receiver):
    r = http.post(receiver.url, data=b'{"a":1}', headers={"Content-Type": "application/json"})
    assert r.status == 200 and r.body == b"ok" and r.latency_ms >= 0
    assert receiver.requests[0].body == b'{"a":1}'


def test_it_does_not_follow_redirects(receiver):
    receiver.respond(302, {"Location": "http://127.0.0.1:9/elsewhere"})
    r = http.post(receiver.url, data=b"{}", headers={})
    assert r.status == 302
    assert len(receiver.requests) == 1


def test_it_keeps_only_the_first_4_kb_of_the_body(receiver):
    receiver.respond(200, {}, b"x" * 10_000)
    assert len(http.post(receiver.url, data=b"{}", headers={}).body) == 4096


def test_it_times_out(receiver, monkeypatch):
    receiver.delay = 1.0
    with pytest.raises(http.HttpError, match="Timed out"):
        http.post(receiver.url, data=b"{}", headers={}, timeout=0.2)


def test_a_refused_connection_is_an_http_error(settings):
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = True
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused.
    with pytest.raises(http.HttpError):
        http.post("http://127.0.0.1:9/", data=b"{}", headers={}, timeout=2)
