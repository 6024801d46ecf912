from __future__ import annotations

from datetime import UTC, datetime

import pytest

from observability import timing

pytestmark = pytest.mark.django_db
URLS = ["/performance/", "/views/performance-summary/"]


@pytest.fixture(autouse=True)
def fresh_recorder():
    timing.recorder.clear()
    yield timing.recorder
    timing.recorder.clear()


def _traffic():
    r = timing.Recorder(wall=lambda: datetime.now(tz=UTC).timestamp())
    for route, values, status in (
        ("GET /api/chains/<uuid:pk>/", [5.0, 7.0, 300.0], 200),
        ("POST /x/<b>&", [2.0], 500),
        ("GET <unmatched>", [1.0, 1.0], 404),
    ):
        for v in values:
            r.record(route, status, v)
    r.flush()


@pytest.mark.parametrize("url", URLS)
def test_it_redirects_anonymous_to_login(anon_client, url):
    r = anon_client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", URLS)
def test_it_requires_staff(bob_client, url):
    assert bob_client.get(url).status_code == 403


def test_it_shows_an_empty_state_before_any_traffic(alice_client):
    html = alice_client.get("/performance/").content.decode()
    assert "No route latency has been recorded yet." in html
    assert "<svg" not in html
    assert 'hx-trigger="every 10s"' in html


def test_it_shows_cards_top_routes_table_and_charts(alice_client):
    _traffic()
    r = alice_client.get("/performance/?window=5m")
    html = r.content.decode()
    assert "<h1>Performance</h1>" in html
    assert html.count('<svg class="chart"') == 4
    for title in ("p95 latency over the window", "Request rate over the window",
                  "Error rate (5xx share) over the window"):
        assert title in html
    assert "POST /x/&lt;b&gt;&amp;" in html and "<b>&" not in html
    assert html.count('<g class="route"') == 3
    assert 'aria-sort="descending"' in html  # default: slowest p95 first
    table = html[html.index('id="route-table"'):]
    assert table.index("GET /api/chains/&lt;uuid:pk&gt;/") < table.index("GET &lt;unmatched&gt;")
    assert 'aria-current="true">5m</a>' in html


def test_it_sorts_the_route_table(alice_client):
    _traffic()
    html = alice_client.get("/performance/?sort=route").content.decode()
    table = html[html.index('id="route-table"'):]
    assert table.index("GET /api/chains/") < table.index("GET &lt;unmatched&gt;") < table.index(
        "POST /x/")
    assert 'aria-sort="ascending"' in html
    html = alice_client.get("/performance/?sort=-count").content.decode()
    table = html[html.index('id="route-table"'):]
    assert table.index("GET /api/chains/") < table.index("POST /x/")


def test_the_fragment_is_the_refreshing_summary_only(alice_client):
    _traffic()
    html = alice_client.get("/views/performance-summary/?window=1h&sort=-max",
                            HTTP_HX_REQUEST="true").content.decode()
    assert html.startswith("<div id=\"performance-summary\"")
    assert 'hx-get="/views/performance-summary/?window=1h&amp;sort=-max"' in html
    assert "<html" not in html and html.count("<svg") == 4


def test_it_ignores_bad_window_and_sort(alice_client):
    r = alice_client.get("/performance/?window=zzz&sort=evil")
    assert r.status_code == 200
    assert 'sort=-p95' in r.content.decode()


def test_it_says_when_the_window_is_empty_but_history_exists(alice_client):
    r = timing.Recorder(wall=lambda: 1_000_000.0)
    r.record("GET /old/", 200, 1.0)
    r.flush()
    html = alice_client.get("/performance/?window=5m").content.decode()
    assert "No requests in the last 5m." in html
