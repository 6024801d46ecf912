from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_it_exposes_the_agent_settings(api):
    body = api.get("/api/settings/").json()
    assert body["agent_backend"] == "claude"
    assert body["agent_command"] == "" and body["agent_env"] == ""


@pytest.mark.django_db
def test_it_saves_valid_agent_settings(api):
    r = api.patch("/api/settings/", {"agent_backend": "command",
                                     "agent_command": "{python} {fake_agent} complete",
                                     "agent_env": "ANTHROPIC_API_KEY=anthropic_key, FOO=bar"},
                  format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["agent_backend"] == "command"


@pytest.mark.django_db
@pytest.mark.parametrize("body,field", [
    ({"agent_backend": "gpt"}, "agent_backend"),
    ({"agent_env": "not a pair"}, "agent_env"),
    ({"agent_env": "A=bad-name"}, "agent_env"),
])
def test_it_rejects_bad_agent_settings(api, body, field):
    r = api.patch("/api/settings/", body, format="json")
    assert r.status_code == 400 and field in r.json()


@pytest.mark.django_db
def test_the_settings_page_shows_the_agent_fields(alice_client):
    html = alice_client.get("/settings/").content.decode()
    for name in ("agent_backend", "agent_command", "agent_env"):
        assert f'name="{name}"' in html
