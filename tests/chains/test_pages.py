"""/chains/ and /chains/<id>/ pages, their HTMX fragments and their POST actions."""

from __future__ import annotations

import uuid

import pytest

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_list_redirects_anonymous_to_login(anon_client):
    r = anon_client.get("/chains/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=/chains/")


def test_list_is_403_for_non_staff(bob_client):
    assert bob_client.get("/chains/").status_code == 403


def test_list_shows_chains_filters_and_cost_cards(alice_client, make_chain):
    c = make_chain(task="Port the importer", project_dir="/srv/imp")
    c.record_session(turns=3, cost_usd=1.5)
    html = alice_client.get("/chains/").content.decode()
    assert "Port the importer" in html and f'href="/chains/{c.id}/"' in html
    assert 'id="chain-filters"' in html and 'value="/srv/imp"' in html
    assert "$1.50" in html and 'id="cost-cards"' in html
    assert 'hx-trigger="input changed delay:300ms, search"' in html


def test_list_fragment_applies_the_same_filters(alice_client, make_chain):
    make_chain(task="Alpha job")
    make_chain(task="Beta job", status="failed")
    r = alice_client.get("/chains/?q=alpha", **HX)
    html = r.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="chain-results">')
    assert "Alpha job" in html and "Beta job" not in html
    html = alice_client.get("/chains/?status=failed", **HX).content.decode()
    assert "Beta job" in html and "Alpha job" not in html


def test_list_shows_an_error_for_a_bad_filter(alice_client, make_chain):
    make_chain(task="Alpha job")
    html = alice_client.get("/chains/?status=bogus").content.decode()
    assert 'role="alert"' in html and "Alpha job" not in html


def test_list_paginates_25_per_page(alice_client, make_chain):
    for i in range(30):
        make_chain(task=f"job {i}")
    html = alice_client.get("/chains/?page=2").content.decode()
    assert "26–30 of 30" in html and "Prev" in html and "Next" not in html


def test_a_search_reads_the_matching_chains_four_times_not_six(alice_client, make_chain):
    # Each keystroke of the live search re-renders this fragment; at 100k chains every scan
    # of the matches counts. Cost cards (3 grouped scans) also give the pager its count.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(30):
        make_chain(task=f"billing job {i}", status="running" if i % 3 else "failed")
    with CaptureQueriesContext(connection) as ctx:
        html = alice_client.get("/chains/?q=billing&page=2", **HX).content.decode()
    assert "26–30 of 30" in html
    scans = [q["sql"] for q in ctx.captured_queries if '"chains_chain"' in q["sql"]]
    assert len(scans) == 4, scans


def test_list_says_how_to_seed_when_empty(alice_client):
    assert "seed_demo" in alice_client.get("/chains/").content.decode()


@pytest.mark.parametrize("url", ["/chains/bulk-archive/", "/chains/bulk-delete/"])
def test_bulk_rejects_get(alice_client, url):
    assert alice_client.get(url).status_code == 405


@pytest.mark.parametrize("url", ["/chains/bulk-archive/", "/chains/bulk-delete/"])
def test_bulk_requires_staff(bob_client, make_chain, url):
    c = make_chain(status="complete")
    assert bob_client.post(url, {"ids": [c.id]}).status_code == 403
    assert Chain.objects.get(pk=c.pk).status == "complete"


@pytest.mark.parametrize("url", ["/chains/bulk-archive/", "/chains/bulk-delete/"])
def test_bulk_rejects_anonymous(anon_client, make_chain, url):
    c = make_chain(status="complete")
    assert anon_client.post(url, {"ids": [c.id]}).status_code == 302
    assert Chain.objects.get(pk=c.pk).status == "complete"


def test_bulk_archive_from_the_page_keeps_the_filters(alice_client, make_chain):
    a = make_chain(task="old a", status="complete")
    running = make_chain(task="old running")
    make_chain(task="other", status="complete")
    r = alice_client.post("/chains/bulk-archive/", {"ids": [a.id, running.id], "q": "old"}, **HX)
    html = r.content.decode()
    assert "Archived 1 of 2." in html and "running — abort first" in html
    assert "other" not in html and "old a" in html
    assert Chain.objects.get(pk=a.pk).status == "archived"
    assert Chain.objects.get(pk=running.pk).status == "running"


def test_bulk_delete_without_htmx_redirects_with_a_message(alice_client, make_chain):
    a = make_chain(status="failed")
    r = alice_client.post("/chains/bulk-delete/", {"ids": [a.id]}, follow=True)
    assert r.redirect_chain[-1][0] == "/chains/"
    assert "Deleted 1 of 1." in r.content.decode()
    assert not Chain.objects.exists()


def test_bulk_with_nothing_selected_says_so(alice_client):
    r = alice_client.post("/chains/bulk-archive/", {}, **HX)
    assert "Select at least one chain." in r.content.decode()


def test_detail_requires_staff(anon_client, bob_client, make_chain):
    c = make_chain()
    assert anon_client.get(f"/chains/{c.id}/").status_code == 302
    assert bob_client.get(f"/chains/{c.id}/").status_code == 403


def test_detail_of_an_unknown_chain_is_404(alice_client):
    assert alice_client.get(f"/chains/{uuid.uuid4()}/").status_code == 404


def test_detail_shows_sessions_handoffs_chart_and_lineage(alice_client, make_chain):
    c = make_chain(task="Upgrade Django", metadata={"ticket": "OPS-7"})
    c.record_session(turns=4, cost_usd=0.5, handoff="## HANDOFF\n**Accomplished:** step one")
    c.record_session(turns=4, cost_usd=1.0, error="overloaded")
    c.finish("failed")
    new = c.restart()
    html = alice_client.get(f"/chains/{c.id}/").content.decode()
    assert "Upgrade Django" in html and "step one" in html and "overloaded" in html
    assert html.count("<rect ") == 2 and 'id="cost-chart"' in html
    assert f'href="/chains/{new.id}/"' in html
    assert f'data-copy-permalink="/chains/{c.id}/"' in html
    assert "Restart</button>" in html and "Abort</button>" not in html
    assert "OPS-7" in html and 'hx-trigger="every 5s"' not in html
    assert f'href="/chains/{c.id}/"' in alice_client.get(f"/chains/{new.id}/").content.decode()


def test_detail_of_a_running_chain_refreshes_itself(alice_client, make_chain):
    c = make_chain()
    html = alice_client.get(f"/chains/{c.id}/").content.decode()
    assert 'hx-trigger="every 5s"' in html and "Abort</button>" in html
    assert "Delete</button>" not in html and "Restart</button>" not in html
    frag = alice_client.get(f"/chains/{c.id}/", **HX).content.decode()
    assert frag.startswith('<div id="chain-live"') and "<html" not in frag


ACTIONS = ["edit", "abort", "restart", "archive", "delete"]


@pytest.mark.parametrize("name", ACTIONS)
def test_it_rejects_get(alice_client, make_chain, name):
    c = make_chain()
    assert alice_client.get(f"/chains/{c.id}/{name}/").status_code == 405


@pytest.mark.parametrize("name", ACTIONS)
def test_it_requires_staff(bob_client, make_chain, name):
    c = make_chain(status="failed")
    assert bob_client.post(f"/chains/{c.id}/{name}/", {"task": "x"}).status_code == 403
    assert Chain.objects.get(pk=c.pk).status == "failed" and Chain.objects.count() == 1


@pytest.mark.parametrize("name", ACTIONS)
def test_it_rejects_anonymous(anon_client, make_chain, name):
    c = make_chain(status="failed")
    assert anon_client.post(f"/chains/{c.id}/{name}/", {"task": "x"}).status_code == 302
    assert Chain.objects.get(pk=c.pk).task != "x" and Chain.objects.count() == 1


def test_edit_saves_task_and_metadata(alice_client, make_chain):
    c = make_chain()
    r = alice_client.post(f"/chains/{c.id}/edit/", {
        "task": " Better task ", "metadata": '{"a": 1}', "version": c.etag}, **HX)
    assert r.status_code == 200 and "Saved." in r.content.decode()
    c.refresh_from_db()
    assert c.task == "Better task" and c.metadata == {"a": 1}
    assert AuditEvent.objects.filter(action="chain.updated").count() == 1


@pytest.mark.parametrize("data,field", [
    ({"task": "", "metadata": ""}, "task"),
    ({"task": "ok", "metadata": "{bad"}, "metadata"),
    ({"task": "ok", "metadata": "[1, 2]"}, "metadata"),
])
def test_edit_shows_inline_errors_and_saves_nothing(alice_client, make_chain, data, field):
    c = make_chain(task="original")
    html = alice_client.post(f"/chains/{c.id}/edit/", data, **HX).content.decode()
    assert f'id="{field}-errors"' in html and "Nothing was saved." in html
    assert Chain.objects.get(pk=c.pk).task == "original"


def test_edit_refuses_a_stale_version(alice_client, make_chain):
    c = make_chain(task="original")
    stale = c.etag
    c.edit({"task": "someone else"})
    html = alice_client.post(f"/chains/{c.id}/edit/", {"task": "mine", "version": stale},
                             **HX).content.decode()
    assert "changed this chain since you opened it" in html
    assert Chain.objects.get(pk=c.pk).task == "someone else"


def test_blank_metadata_clears_it(alice_client, make_chain):
    c = make_chain(metadata={"a": 1})
    alice_client.post(f"/chains/{c.id}/edit/", {"task": "t", "metadata": "  "})
    assert Chain.objects.get(pk=c.pk).metadata is None


def test_abort_from_the_page_redirects_back(alice_client, make_chain):
    c = make_chain()
    r = alice_client.post(f"/chains/{c.id}/abort/", **HX)
    assert r.status_code == 204 and r["HX-Redirect"] == f"/chains/{c.id}/"
    assert Chain.objects.get(pk=c.pk).status == "aborted"


def test_restart_from_the_page_goes_to_the_new_chain(alice_client, make_chain):
    c = make_chain(status="failed")
    r = alice_client.post(f"/chains/{c.id}/restart/")
    new = Chain.objects.get(restarted_from=c)
    assert r.status_code == 302 and r["Location"] == f"/chains/{new.id}/"


def test_archive_and_delete_from_the_page(alice_client, make_chain):
    c = make_chain(status="complete")
    alice_client.post(f"/chains/{c.id}/archive/")
    assert Chain.objects.get(pk=c.pk).status == "archived"
    r = alice_client.post(f"/chains/{c.id}/delete/", **HX)
    assert r["HX-Redirect"] == "/chains/" and not Chain.objects.exists()


def test_delete_from_the_page_refuses_a_running_chain(alice_client, make_chain):
    c = make_chain()
    r = alice_client.post(f"/chains/{c.id}/delete/", follow=True)
    assert "abort it first" in r.content.decode() and Chain.objects.filter(pk=c.pk).exists()
