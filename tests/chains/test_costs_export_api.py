"""GET /api/chains/costs/ and GET /api/chains/export/?format=csv|json."""

from __future__ import annotations

import csv
import io
import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(make_chain):
    a = make_chain(task="alpha", model="opus", project_dir="/srv/a")
    a.record_session(turns=5, cost_usd=1.25, input_tokens=100, output_tokens=10)
    a.record_session(turns=5, cost_usd=0.75, input_tokens=100, output_tokens=10)
    a.finish("complete")
    b = make_chain(task="beta", project_dir="/srv/a")
    b.record_session(turns=2, cost_usd=0.5)
    make_chain(task="=HYPERLINK(\"http://evil\")", status="failed")
    return a, b


@pytest.mark.parametrize("url", ["/api/chains/costs/", "/api/chains/export/"])
def test_it_requires_staff(bob_api, anon_api, url):
    assert bob_api.get(url).status_code == 403
    assert anon_api.get(url).status_code == 401


def test_costs_break_down_by_status_project_and_model(api, three):
    body = api.get("/api/chains/costs/").json()
    assert body["total_cost_usd"] == 2.5 and body["total_chains"] == 3
    assert body["total_sessions"] == 3 and body["total_turns"] == 12 and body["running"] == 1
    assert body["by_status"]["complete"] == {"chains": 1, "cost_usd": 2.0}
    assert body["by_project"]["/srv/a"] == {"chains": 2, "cost_usd": 2.5, "sessions": 3}
    assert body["by_project"]["(default)"]["chains"] == 1
    assert body["by_model"]["opus"] == {"chains": 1, "cost_usd": 2.0, "sessions": 2,
                                        "input_tokens": 200, "output_tokens": 20}


def test_costs_honour_the_filters(api, three):
    assert api.get("/api/chains/costs/?model=opus").json()["total_cost_usd"] == 2.0
    assert api.get("/api/chains/costs/?q=beta").json()["total_chains"] == 1


def test_export_csv_is_streamed_with_escaped_formulas(api, three):
    r = api.get("/api/chains/export/?format=csv")
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"].startswith("text/csv")
    assert 'filename="chains.csv"' in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert len(rows) == 3
    tasks = {row["task"] for row in rows}
    assert "'=HYPERLINK(\"http://evil\")" in tasks and "alpha" in tasks
    alpha = next(row for row in rows if row["task"] == "alpha")
    assert alpha["cost_usd"] == "2.0" and alpha["sessions"] == "2" and alpha["model"] == "opus"


def test_export_json_is_the_default_and_takes_filters(api, three):
    r = api.get("/api/chains/export/?status=complete")
    assert r["Content-Type"] == "application/json"
    data = json.loads(b"".join(r.streaming_content))
    assert [d["task"] for d in data] == ["alpha"] and data[0]["cost_usd"] == 2.0


def test_export_of_nothing_is_an_empty_array(api):
    r = api.get("/api/chains/export/?format=json")
    assert json.loads(b"".join(r.streaming_content)) == []


def test_export_rejects_an_unknown_format(api):
    r = api.get("/api/chains/export/?format=xml")
    assert r.status_code == 400 and "format" in r.json()
