from __future__ import annotations

import re

import pytest
from django.utils import timezone

from chains.models import Chain, ChainRun, OutputChunk
from settings_ui.models import OperatorSettings


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from chains import tasks

    monkeypatch.setattr(tasks.run_chain_session, "delay", lambda chain_id: None)


@pytest.fixture
def command_backend(db):
    cfg = OperatorSettings.load()
    cfg.agent_backend, cfg.agent_command = "command", "{python} {fake_agent} complete"
    cfg.save()


@pytest.mark.django_db
def test_it_offers_start_for_a_chain_never_run(alice_client):
    chain = Chain.create(task="t")
    html = alice_client.get(f"/chains/{chain.pk}/").content.decode()
    assert 'id="start-chain"' in html
    assert 'id="chain-output"' not in html


@pytest.mark.django_db
def test_it_starts_from_the_page(alice_client, command_backend):
    chain = Chain.create(task="t")
    r = alice_client.post(f"/chains/{chain.pk}/start/")
    assert r.status_code == 302 and r["Location"] == f"/chains/{chain.pk}/"
    assert ChainRun.objects.filter(pk=chain.pk).exists()
    html = alice_client.get(f"/chains/{chain.pk}/").content.decode()
    assert 'id="start-chain"' not in html
    assert f'hx-get="/chains/{chain.pk}/output/"' in html


@pytest.mark.django_db
def test_it_reports_a_refused_start(alice_client, tmp_path):
    chain = Chain.create(task="t", project_dir=str(tmp_path / "gone"))
    r = alice_client.post(f"/chains/{chain.pk}/start/", follow=True)
    assert "Not started: Project directory" in r.content.decode()
    assert not ChainRun.objects.exists()


@pytest.mark.django_db
def test_it_starts_via_htmx_with_a_redirect_header(alice_client, command_backend):
    chain = Chain.create(task="t")
    r = alice_client.post(f"/chains/{chain.pk}/start/", HTTP_HX_REQUEST="true")
    assert r.status_code == 204 and r["HX-Redirect"] == f"/chains/{chain.pk}/"


@pytest.mark.django_db
def test_it_rejects_get(alice_client):
    chain = Chain.create(task="t")
    assert alice_client.get(f"/chains/{chain.pk}/start/").status_code == 405


@pytest.mark.django_db
def test_it_requires_staff(bob_client):
    chain = Chain.create(task="t")
    assert bob_client.post(f"/chains/{chain.pk}/start/").status_code == 403
    assert bob_client.get(f"/chains/{chain.pk}/output/").status_code == 403
    assert not ChainRun.objects.exists()


@pytest.mark.django_db
def test_it_rejects_anonymous(anon_client):
    chain = Chain.create(task="t")
    r = anon_client.post(f"/chains/{chain.pk}/start/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert anon_client.get(f"/chains/{chain.pk}/output/").status_code == 302


@pytest.mark.django_db
def test_it_tails_the_live_output_with_figures(alice_client):
    chain = Chain.create(task="t")
    ChainRun.objects.create(chain=chain, backend="command",
                            session_started_at=timezone.now() - timezone.timedelta(seconds=75))
    Chain.objects.filter(pk=chain.pk).update(turns=7, cost_usd="0.1234")
    OutputChunk.objects.create(chain=chain, session_index=0, text="old session line\n")
    OutputChunk.objects.create(chain=chain, session_index=1, text="first <line>\n")
    OutputChunk.objects.create(chain=chain, session_index=1, text="second line\n")
    html = alice_client.get(f"/chains/{chain.pk}/output/", HTTP_HX_REQUEST="true").content.decode()
    assert "first &lt;line&gt;\nsecond line" in html
    assert "old session line" not in html
    assert "session 2" in html and re.search(r"session time <span id=\"run-elapsed\">1:[12]\d<", html)
    assert "7 turns" in html and "$0.1234" in html
    assert 'hx-trigger="every 1s"' in html


@pytest.mark.django_db
def test_it_stops_polling_when_the_run_is_over(alice_client):
    chain = Chain.create(task="t", status="failed")
    ChainRun.objects.create(chain=chain, backend="command", finished_at=timezone.now(),
                            last_error="executable not found: claude")
    html = alice_client.get(f"/chains/{chain.pk}/output/").content.decode()
    assert "hx-trigger" not in html
    assert "executable not found: claude" in html


@pytest.mark.django_db
def test_it_says_when_the_chain_waits_for_a_worker_or_its_runner_went_silent(alice_client):
    chain = Chain.create(task="t")
    run = ChainRun.objects.create(chain=chain, backend="command", heartbeat_at=timezone.now())
    html = alice_client.get(f"/chains/{chain.pk}/output/").content.decode()
    assert 'id="run-waiting"' in html and 'id="run-silent"' not in html
    ChainRun.objects.filter(pk=run.pk).update(
        claim="abc", heartbeat_at=timezone.now() - timezone.timedelta(minutes=10))
    html = alice_client.get(f"/chains/{chain.pk}/output/").content.decode()
    assert 'id="run-waiting"' not in html and 'id="run-silent"' in html
