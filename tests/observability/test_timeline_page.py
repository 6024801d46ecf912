"""/timeline/ and its fragment /views/timeline-entries/."""

from __future__ import annotations

import datetime as dt
from html import unescape

import pytest
import time_machine

from observability import links
from observability.events import emit
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def widget_links():
    """A resolver for a test target type: ids starting with "live" still exist."""
    links.register("widget", lambda ids: {i: f"/settings/?widget={i}" for i in ids if i.startswith("live")})
    yield
    links._resolvers.pop("widget", None)


def _at(ts, action, **kw):
    e = emit(action, **kw)
    AuditEvent.objects.filter(pk=e.pk).update(ts=ts)
    return e


def test_it_rejects_anonymous(anon_client):
    r = anon_client.get("/timeline/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert anon_client.get("/views/timeline-entries/").status_code == 302


def test_it_requires_staff(bob_client):
    assert bob_client.get("/timeline/").status_code == 403
    assert bob_client.get("/views/timeline-entries/").status_code == 403


def test_it_groups_by_day_newest_first(alice_client):
    with time_machine.travel(NOW, tick=False):
        _at(NOW - dt.timedelta(days=3), "chain.created", target=("chain", "old"))
        _at(NOW - dt.timedelta(days=1), "task.created", target=("task", "mid"))
        _at(NOW - dt.timedelta(minutes=5), "chain.failed", target=("chain", "new"))
        html = alice_client.get("/timeline/").content.decode()
    assert html.index("Today") < html.index("Yesterday") < html.index("2026-11-22")
    assert html.index("Chain new failed") < html.index("Task mid created") < html.index("Chain old created")
    assert 'title="2026-11-25 11:55:00 UTC"' in html and "5\xa0minutes ago" in html
    assert "✗" in html  # failure icon


def test_it_links_live_targets_and_marks_deleted_ones(alice_client, widget_links):
    emit("widget.made", target=("widget", "live-1"))
    emit("widget.made", target=("widget", "gone-2"))
    emit("gizmo.made", target=("gizmo", "g-3"))
    html = alice_client.get("/timeline/").content.decode()
    assert '<a href="/settings/?widget=live-1">widget live-1</a>' in html
    assert "gone-2</span> <span class=\"gone\">(deleted)</span>" in html
    assert 'href="/settings/?widget=gone-2"' not in html
    assert "g-3" in html and html.count("(deleted)") == 1  # unregistered type: plain text


def test_it_shows_pretty_json_details(alice_client):
    emit("backup.created", target=("backup", "b1"), data={"size": 10, "files": ["a"]})
    html = alice_client.get("/timeline/").content.decode()
    assert "<details>" in html
    assert unescape('{\n  &quot;files&quot;: [\n    &quot;a&quot;\n  ],\n  &quot;size&quot;: 10\n}') in unescape(html)


def test_it_highlights_search_matches(alice_client):
    emit("chain.created", target=("chain", "abc-Needle-1"), data={"task": "<b>x</b>"})
    emit("chain.created", target=("chain", "other"))
    html = alice_client.get("/timeline/?q=needle").content.decode()
    assert "<mark>Needle</mark>" in html and "other" not in html.split('id="timeline-entries"')[1]
    assert "<b>x</b>" not in html


def test_it_counts_categories_for_the_filter(alice_client):
    emit("chain.created", actor="alice")
    emit("chain.updated", actor="alice")
    emit("task.created", actor="alice")
    emit("task.created", actor="bob")
    html = alice_client.get("/timeline/?actor=alice&category=task").content.decode()
    assert "All 3" in html and "Chain 2" in html and "Task 1" in html


def test_it_puts_exactly_the_filters_into_export_links(alice_client):
    q = "category=chain&actor=alice&q=fix+it&since=2026-11-01T00%3A00&limit=25&offset=0"
    html = alice_client.get(f"/timeline/?{q}").content.decode()
    expect = "category=chain&amp;action=&amp;actor=alice"
    assert expect not in html  # empty filters are left out
    for fmt in ("json", "csv", "jsonl"):
        assert (f'href="/api/export/audit/?format={fmt}&amp;category=chain&amp;actor=alice'
                f'&amp;q=fix+it&amp;since=2026-11-01T00%3A00"') in html


def test_it_paginates_with_the_page_size(alice_client):
    for i in range(5):
        emit("chain.created", target=("chain", f"c{i}"))
    html = alice_client.get("/timeline/?limit=2&offset=2").content.decode()
    assert "3–4 of 5" in html
    assert 'href="/timeline/?limit=2&amp;offset=4"' in html and 'href="/timeline/?limit=2"' in html


@pytest.mark.parametrize("query,field", [
    ("since=not-a-date", "since"), ("until=2026-99-01", "until"),
    ("since=2026-11-21T00:00&until=2026-11-20T00:00", "until"), ("category=bogus", "category"),
    ("limit=0", "limit"), ("limit=500", "limit"), ("limit=x", "limit"), ("offset=-3", "offset"),
])
def test_it_shows_bad_input_inline(alice_client, query, field):
    for url in ("/timeline/", "/views/timeline-entries/"):
        r = alice_client.get(f"{url}?{query}")
        assert r.status_code == 200
        html = r.content.decode()
        assert 'role="alert"' in html and f"<code>{field}</code>" in html


def test_the_fragment_is_what_the_page_includes(alice_client):
    emit("chain.created", target=("chain", "c1"))
    page = alice_client.get("/timeline/?category=chain").content.decode()
    frag = alice_client.get("/views/timeline-entries/?category=chain", HTTP_HX_REQUEST="true")
    assert frag["HX-Replace-Url"] == "/timeline/?category=chain"
    body = frag.content.decode()
    assert "<html" not in body and 'class="entry cat-chain' in body
    assert body.strip()[:200] in page


def test_a_live_poll_without_news_is_204(alice_client):
    e = emit("chain.created", target=("chain", "c1"))
    r = alice_client.get(f"/views/timeline-entries/?seen={e.pk}-1")
    assert r.status_code == 204
    emit("chain.updated", target=("chain", "c1"))
    assert alice_client.get(f"/views/timeline-entries/?seen={e.pk}-1").status_code == 200


def test_live_can_be_switched_off_in_the_url(alice_client):
    assert "every 10s" in alice_client.get("/timeline/").content.decode()
    assert "every 10s" not in alice_client.get("/timeline/?live=0").content.decode()


def test_it_shows_a_shared_utc_time_in_the_datetime_inputs(alice_client):
    html = alice_client.get("/timeline/?since=2026-11-20T14:00:00Z&until=2026-11-20T16:30:00%2B01:00").content.decode()
    assert 'name="since" value="2026-11-20T14:00:00"' in html
    assert 'name="until" value="2026-11-20T15:30:00"' in html
    # the export keeps exactly what the URL said
    assert "since=2026-11-20T14%3A00%3A00Z" in html


def test_it_says_so_when_nothing_matches(alice_client):
    html = alice_client.get("/timeline/?actor=nobody").content.decode()
    assert "No activity matches these filters." in html


def test_the_page_ignores_a_poll_signature(alice_client):
    e = emit("chain.created", target=("chain", "c1"))
    r = alice_client.get(f"/timeline/?seen={e.pk}-1")
    assert r.status_code == 200 and 'class="entry cat-chain' in r.content.decode()
