from __future__ import annotations

import pytest

from settings_ui.models import ApiToken, OperatorSettings

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_to_login(anon_client):
    r = anon_client.get("/settings/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=/settings/")


def test_it_requires_staff(bob_client):
    assert bob_client.get("/settings/").status_code == 403


def test_it_shows_the_sections(alice_client):
    r = alice_client.get("/settings/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="general"' in html and 'id="tokens"' in html
    assert 'name="max_turns"' in html and 'value="30"' in html


def test_the_fragment_is_the_section_alone(alice_client):
    r = alice_client.get("/views/settings-general/", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.lstrip().startswith('<div id="general-section">')
    assert "<nav" not in html


class TestGeneralForm:
    def form(self, **overrides):
        data = {k: v for k, v in OperatorSettings.defaults().items()}
        data["auto_push"] = "on" if data["auto_push"] else ""
        data.update(overrides)
        return {k: v for k, v in data.items() if v != ""}

    def test_it_rejects_get_for_reset(self, alice_client):
        assert alice_client.get("/views/settings-general/reset/").status_code == 405

    def test_it_requires_staff(self, bob_client):
        assert bob_client.post("/views/settings-general/", self.form(max_turns=9)).status_code == 403
        assert OperatorSettings.load().max_turns == 30

    def test_it_rejects_anonymous(self, anon_client):
        assert anon_client.post("/views/settings-general/", self.form(max_turns=9)).status_code == 302
        assert OperatorSettings.load().max_turns == 30

    def test_it_saves(self, alice_client):
        r = alice_client.post("/views/settings-general/", self.form(max_turns=9), HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and "Saved (1 changed)." in r.content.decode()
        assert OperatorSettings.load().max_turns == 9

    def test_without_htmx_it_redirects_back(self, alice_client):
        r = alice_client.post("/views/settings-general/", self.form(max_turns=9))
        assert r.status_code == 302 and r["Location"] == "/settings/#general"

    def test_it_shows_inline_errors_and_writes_nothing(self, alice_client):
        r = alice_client.post(
            "/views/settings-general/", self.form(max_turns=9, max_continuations=99),
            HTTP_HX_REQUEST="true",
        )
        html = r.content.decode()
        assert 'id="max_continuations-errors"' in html
        assert "less than or equal to 20" in html
        assert OperatorSettings.load().max_turns == 30

    def test_reset(self, alice_client):
        OperatorSettings.load().apply({"max_turns": 9})
        r = alice_client.post("/views/settings-general/reset/", HTTP_HX_REQUEST="true")
        assert "Reset to defaults." in r.content.decode()
        assert OperatorSettings.load().max_turns == 30


class TestTokens:
    def test_it_creates_a_token_shown_once(self, alice_client):
        r = alice_client.post("/views/settings-tokens/", {"label": "laptop"}, HTTP_HX_REQUEST="true")
        html = r.content.decode()
        token = ApiToken.objects.get()
        assert token.label == "laptop"
        assert 'id="new-token"' in html and token.hint in html
        again = alice_client.get("/views/settings-tokens/", HTTP_HX_REQUEST="true").content.decode()
        assert 'id="new-token"' not in again and "laptop" in again

    def test_it_revokes(self, alice_client, alice):
        token, _ = ApiToken.issue(alice)
        r = alice_client.post(f"/views/settings-tokens/{token.code}/revoke/", HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and not ApiToken.objects.exists()

    def test_revoke_rejects_get(self, alice_client, alice):
        token, _ = ApiToken.issue(alice)
        assert alice_client.get(f"/views/settings-tokens/{token.code}/revoke/").status_code == 405

    def test_revoke_requires_staff(self, bob_client, alice):
        token, _ = ApiToken.issue(alice)
        assert bob_client.post(f"/views/settings-tokens/{token.code}/revoke/").status_code == 403
        assert ApiToken.objects.exists()

    def test_revoke_rejects_anonymous(self, anon_client, alice):
        token, _ = ApiToken.issue(alice)
        assert anon_client.post(f"/views/settings-tokens/{token.code}/revoke/").status_code == 302
        assert ApiToken.objects.exists()

    def test_create_requires_staff(self, bob_client):
        assert bob_client.post("/views/settings-tokens/", {"label": "x"}).status_code == 403
        assert not ApiToken.objects.exists()
