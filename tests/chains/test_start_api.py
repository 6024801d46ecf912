from __future__ import annotations

from decimal import Decimal

import pytest

from chains.models import Chain, ChainRun, OutputChunk
from observability.models import AuditEvent
from settings_ui.models import OperatorSettings


@pytest.fixture
def queued(monkeypatch):
    """Session tasks that would be queued, instead of sending them to a broker."""
    sent = []
    from chains import tasks

    monkeypatch.setattr(tasks.run_chain_session, "delay", lambda chain_id: sent.append(chain_id))
    return sent


@pytest.fixture
def command_backend(db):
    cfg = OperatorSettings.load()
    cfg.agent_backend, cfg.agent_command = "command", "{python} {fake_agent} complete"
    cfg.save()


@pytest.mark.django_db
def test_it_creates_and_starts_a_chain(api, queued, command_backend, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/chains/", {"task": "Do it", "start": True}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "running"
    assert body["run"]["backend"] == "command" and body["run"]["active"] is True
    assert queued == [body["id"]]
    assert AuditEvent.objects.filter(action="chain.started", target_id=body["id"]).exists()


@pytest.mark.django_db
def test_it_creates_without_starting_by_default(api, queued):
    r = api.post("/api/chains/", {"task": "Do it"}, format="json")
    assert r.status_code == 201
    assert r.json()["run"] is None
    assert not ChainRun.objects.exists() and queued == []


@pytest.mark.django_db
@pytest.mark.parametrize("body,field", [
    ({"task": "t", "start": True, "agent_backend": "gpt"}, "agent_backend"),
    ({"task": "t", "start": True, "project_dir": "/nonexistent/dir"}, "project_dir"),
    ({"task": "t", "start": True, "max_budget_usd": 0}, "max_budget_usd"),
    ({"task": "t", "agent_backend": "command"}, "agent_backend"),
    ({"task": "t", "start": True, "env": {"bad-name": "x"}}, "env"),
])
def test_it_rejects_bad_starts_and_creates_nothing(api, queued, body, field):
    r = api.post("/api/chains/", body, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not Chain.objects.exists() and queued == []


@pytest.mark.django_db
def test_it_starts_an_existing_chain(api, queued, command_backend, tmp_path, django_capture_on_commit_callbacks):
    chain = Chain.create(task="t", project_dir=str(tmp_path))
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"/api/chains/{chain.pk}/start/", {"env": {"API_KEY": "anthropic"}}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["run"]["env"] == {"API_KEY": "anthropic"}
    assert queued == [str(chain.pk)]


@pytest.mark.django_db
def test_it_refuses_to_start_twice_or_a_finished_chain(api, queued, command_backend):
    chain = Chain.create(task="t")
    assert api.post(f"/api/chains/{chain.pk}/start/", {}, format="json").status_code == 200
    r = api.post(f"/api/chains/{chain.pk}/start/", {}, format="json")
    assert r.status_code == 409 and "already been started" in r.json()["detail"]
    done = Chain.create(task="t", status="failed")
    r = api.post(f"/api/chains/{done.pk}/start/", {}, format="json")
    assert r.status_code == 409 and "failed" in r.json()["detail"]


@pytest.mark.django_db
def test_it_rejects_bad_start_input(api, queued, tmp_path):
    chain = Chain.create(task="t", project_dir=str(tmp_path / "gone"))
    r = api.post(f"/api/chains/{chain.pk}/start/", {}, format="json")
    assert r.status_code == 400 and "project_dir" in r.json()
    chain = Chain.create(task="t", max_budget_usd=Decimal("0"))
    r = api.post(f"/api/chains/{chain.pk}/start/", {}, format="json")
    assert r.status_code == 400 and "max_budget_usd" in r.json()
    chain = Chain.create(task="t")
    r = api.post(f"/api/chains/{chain.pk}/start/", {"agent_backend": "nope"}, format="json")
    assert r.status_code == 400 and "agent_backend" in r.json()
    r = api.post(f"/api/chains/{chain.pk}/start/", {"extra": 1}, format="json")
    assert r.status_code == 400 and "extra" in r.json()
    assert not ChainRun.objects.exists() and queued == []


@pytest.mark.django_db
def test_start_requires_staff(bob_api, anon_api):
    chain = Chain.create(task="t")
    assert bob_api.post(f"/api/chains/{chain.pk}/start/").status_code == 403
    assert anon_api.post(f"/api/chains/{chain.pk}/start/").status_code == 401
    assert api_get_404(bob_api) == 403


def api_get_404(client):
    return client.post("/api/chains/00000000-0000-0000-0000-000000000000/start/").status_code


@pytest.mark.django_db
def test_start_of_unknown_chain_is_404(api):
    assert api_get_404(api) == 404


@pytest.mark.django_db
def test_it_returns_output_chunks_after_an_id(api, bob_api, anon_api):
    chain = Chain.create(task="t")
    a = OutputChunk.objects.create(chain=chain, session_index=0, text="one\n")
    b = OutputChunk.objects.create(chain=chain, session_index=0, text="two\n")
    r = api.get(f"/api/chains/{chain.pk}/output/")
    assert [c["text"] for c in r.json()["chunks"]] == ["one\n", "two\n"]
    r = api.get(f"/api/chains/{chain.pk}/output/?after={a.pk}")
    assert r.json()["chunks"] == [{"id": b.pk, "session_index": 0, "text": "two\n"}]
    assert r.json()["last_id"] == b.pk and r.json()["status"] == "running"
    assert api.get(f"/api/chains/{chain.pk}/output/?after=x").status_code == 400
    assert bob_api.get(f"/api/chains/{chain.pk}/output/").status_code == 403
    assert anon_api.get(f"/api/chains/{chain.pk}/output/").status_code == 401
