"""Access rules, security headers and API conventions across the whole site."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PAGES = ["/", "/chains/", "/tasks/", "/terminals/", "/timeline/", "/performance/", "/settings/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_anonymous_to_login(anon_client, path):
    r = anon_client.get(path)
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_forbidden_to_non_staff(bob_client, path):
    assert bob_client.get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_staff_with_the_nav(alice_client, path):
    r = alice_client.get(path)
    assert r.status_code == 200
    html = r.content.decode()
    for label in ["Dashboard", "Chains", "Tasks", "Terminals", "Timeline", "Performance",
                  "Settings", "API docs", "Admin"]:
        assert f">{label}</a>" in html
    assert html.count('aria-current="page"') == 1


def test_login_page_is_public(anon_client):
    r = anon_client.get("/accounts/login/")
    assert r.status_code == 200 and b'name="password"' in r.content


def test_login_with_wrong_password_says_so(anon_client, alice):
    r = anon_client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert r.status_code == 200
    assert b"enter a correct username and password" in r.content


def test_login_and_logout(anon_client, alice):
    r = anon_client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"})
    assert r.status_code == 302 and r["Location"] == "/"
    assert anon_client.get("/").status_code == 200
    assert anon_client.post("/accounts/logout/").status_code == 302
    assert anon_client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/", "/api/health/", "/accounts/login/"])
def test_security_headers(alice_client, path):
    r = alice_client.get(path)
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script(alice_client):
    html = alice_client.get("/settings/").content.decode()
    assert "<script>" not in html and "onclick=" not in html


def test_admin_is_staff_only(anon_client, bob_client, alice_client):
    assert anon_client.get("/admin/").status_code == 302
    assert bob_client.get("/admin/").status_code == 302  # admin sends non-staff to its login
    # alice is staff but not superuser: she sees the admin index
    assert alice_client.get("/admin/").status_code == 200


def test_unknown_api_path_is_404(api):
    assert api.get("/api/nothing-here/").status_code == 404


def test_api_root_is_browsable_for_staff(alice_client):
    r = alice_client.get("/api/", HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and b"Api Root" in r.content
