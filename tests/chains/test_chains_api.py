"""GET/POST /api/chains/, GET /api/chains/{id}/: list, q-search, create, detail."""

from __future__ import annotations

import uuid

import pytest

from chains.models import Chain
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_it_rejects_anonymous(anon_api, make_chain):
    c = make_chain()
    assert anon_api.get("/api/chains/").status_code == 401
    assert anon_api.get(f"/api/chains/{c.id}/").status_code == 401
    assert anon_api.post("/api/chains/", {"task": "x"}).status_code == 401


def test_it_requires_staff(bob_api, make_chain):
    c = make_chain()
    assert bob_api.get("/api/chains/").status_code == 403
    assert bob_api.get(f"/api/chains/{c.id}/").status_code == 403
    assert bob_api.post("/api/chains/", {"task": "x"}).status_code == 403
    assert not Chain.objects.exclude(pk=c.pk).exists()


def test_it_accepts_a_bearer_token(alice_token, make_chain):
    from rest_framework.test import APIClient

    make_chain()
    c = APIClient()
    r = c.get("/api/chains/", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert r.status_code == 200 and r.json()["count"] == 1


def test_it_lists_newest_update_first_with_the_envelope(api, make_chain):
    a = make_chain(task="first")
    b = make_chain(task="second")
    Chain.objects.filter(pk=a.pk).update(updated_at=b.updated_at.replace(year=2030))
    body = api.get("/api/chains/").json()
    assert body["count"] == 2 and body["previous"] is None
    assert [r["task"] for r in body["results"]] == ["first", "second"]
    assert "sessions" not in body["results"][0] and body["results"][0]["session_count"] == 0


def test_it_paginates_with_limit_and_offset(api, make_chain):
    for i in range(5):
        make_chain(task=f"t{i}")
    body = api.get("/api/chains/?limit=2&offset=4").json()
    assert body["count"] == 5 and len(body["results"]) == 1
    assert api.get("/api/chains/?offset=50").json()["results"] == []
    assert api.get("/api/chains/?limit=0").status_code == 400
    assert api.get("/api/chains/?limit=abc").status_code == 400


@pytest.fixture
def small_cap(monkeypatch):
    from operator_site.lib.api import SearchPagination

    monkeypatch.setattr(SearchPagination, "count_cap", 4)


def test_a_search_count_stops_at_the_cap_and_says_so(api, make_chain, small_cap):
    for i in range(7):
        make_chain(task=f"billing step {i}")
    make_chain(task="other")
    body = api.get("/api/chains/", {"q": "billing", "limit": 2}).json()
    assert body["count"] == 4 and body["count_exact"] is False
    assert len(body["results"]) == 2 and "offset=2" in body["next"]
    # Without a search the count is exact, however many rows.
    body = api.get("/api/chains/", {"limit": 2}).json()
    assert body["count"] == 8 and body["count_exact"] is True


def test_paging_past_the_cap_keeps_working_to_the_last_match(api, make_chain, small_cap):
    for i in range(7):
        make_chain(task=f"billing step {i}")
    seen, url = [], "/api/chains/?q=billing&limit=3"
    while url:
        body = api.get(url).json()
        seen += [r["task"] for r in body["results"]]
        assert body["count"] >= len(seen)
        url = body["next"]
    assert sorted(seen) == [f"billing step {i}" for i in range(7)]
    # The last page knows it is the last: the count became exact.
    assert body["count"] == 7 and body["count_exact"] is True


def test_a_search_with_fewer_matches_than_the_cap_is_exact(api, make_chain, small_cap):
    for i in range(4):
        make_chain(task=f"billing step {i}")
    body = api.get("/api/chains/", {"q": "billing"}).json()
    assert body["count"] == 4 and body["count_exact"] is True and body["next"] is None


def test_the_schema_documents_count_exact(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    page = schema["components"]["schemas"]["PaginatedChainList"]
    assert page["properties"]["count_exact"]["type"] == "boolean"


@pytest.mark.parametrize("q,expected", [
    ("billing", 1), ("BILLING", 1), ("  billing  ", 1), ("", 3), ("   ", 3), ("nothing", 0),
])
def test_q_is_trimmed_and_case_insensitive_over_the_task(api, make_chain, q, expected):
    make_chain(task="Fix the Billing export")
    make_chain(task="Write docs")
    make_chain(task="Add tests")
    assert api.get("/api/chains/", {"q": q}).json()["count"] == expected


def test_q_matches_any_part_of_the_id(api, make_chain):
    c = make_chain(task="Alpha")
    make_chain(task="Beta")
    ident = str(c.id)
    for part in (ident[:8], ident[9:18], ident.upper()[-12:], ident):
        results = api.get("/api/chains/", {"q": part}).json()["results"]
        assert [r["id"] for r in results] == [ident], part


def test_q_combines_with_status_and_project(api, make_chain):
    make_chain(task="deploy api", status="running", project_dir="/srv/a")
    make_chain(task="deploy web", status="failed", project_dir="/srv/a")
    make_chain(task="deploy db", status="failed", project_dir="/srv/b")
    assert api.get("/api/chains/?q=deploy&status=failed").json()["count"] == 2
    assert api.get("/api/chains/?q=deploy&status=failed&project=/srv/a").json()["count"] == 1


def test_it_rejects_an_unknown_status_filter_naming_it(api):
    r = api.get("/api/chains/?status=sleeping")
    assert r.status_code == 400 and "status" in r.json()


def test_it_orders_by_cost(api, make_chain):
    make_chain(task="cheap", cost_usd=1)
    make_chain(task="dear", cost_usd=9)
    assert api.get("/api/chains/?ordering=-cost_usd").json()["results"][0]["task"] == "dear"
    assert api.get("/api/chains/?ordering=cost_usd").json()["results"][0]["task"] == "cheap"
    assert api.get("/api/chains/?ordering=secret").status_code == 400


def test_it_creates_a_running_chain_with_defaults_and_emits(api):
    r = api.post("/api/chains/", {"task": "  Ship it  "}, format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["task"] == "Ship it" and body["status"] == "running"
    assert (body["model"], body["max_turns"], body["max_continuations"], body["max_budget_usd"]) == (
        "sonnet", 30, 5, 5.0)
    assert r.headers["ETag"]
    e = AuditEvent.objects.get(action="chain.created")
    assert e.target_type == "chain" and e.target_id == body["id"] and e.actor == "alice"


def test_create_takes_defaults_from_the_operator_settings(api):
    api.patch("/api/settings/", {"model": "opus", "max_turns": 44}, format="json")
    body = api.post("/api/chains/", {"task": "x"}, format="json").json()
    assert body["model"] == "opus" and body["max_turns"] == 44


def test_create_keeps_a_zero_budget_and_sanitises_the_branch(api):
    body = api.post("/api/chains/", {
        "task": "x", "max_budget_usd": 0, "branch": "  feat/ok; rm -rf ~ $(x)  ",
        "project_dir": "/srv/x", "metadata": {"ticket": "OPS-1"},
    }, format="json").json()
    assert body["max_budget_usd"] == 0
    assert body["branch"] == "feat/okrm-rfx"
    assert body["metadata"] == {"ticket": "OPS-1"} and body["project_dir"] == "/srv/x"


def test_create_truncates_the_branch_to_100_chars(api):
    body = api.post("/api/chains/", {"task": "x", "branch": "a" * 300}, format="json").json()
    assert body["branch"] == "a" * 100


@pytest.mark.parametrize("payload,field", [
    ({}, "task"),
    ({"task": "   "}, "task"),
    ({"task": 5, "model": "gpt-4"}, "model"),
    ({"task": "x", "max_turns": 0}, "max_turns"),
    ({"task": "x", "max_turns": 201}, "max_turns"),
    ({"task": "x", "max_turns": "many"}, "max_turns"),
    ({"task": "x", "max_continuations": 21}, "max_continuations"),
    ({"task": "x", "max_continuations": 0}, "max_continuations"),
    ({"task": "x", "max_budget_usd": -1}, "max_budget_usd"),
    ({"task": "x", "metadata": [1, 2]}, "metadata"),
    ({"task": "x", "metadata": "text"}, "metadata"),
    ({"task": "x", "status": "complete"}, "status"),
    ({"task": "x", "colour": "red"}, "colour"),
])
def test_create_rejects_bad_input_naming_the_field(api, payload, field):
    r = api.post("/api/chains/", payload, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not Chain.objects.exists() and not AuditEvent.objects.exists()


def test_create_rejects_non_json_and_non_objects(api):
    r = api.post("/api/chains/", "{not json", content_type="application/json")
    assert r.status_code == 400 and "detail" in r.json()
    assert api.post("/api/chains/", [1, 2], format="json").status_code == 400
    assert not Chain.objects.exists()


def test_detail_has_sessions_restarts_and_an_etag(api, make_chain):
    c = make_chain(status="failed")
    new = c.restart()
    body = api.get(f"/api/chains/{c.id}/")
    assert body.status_code == 200 and body.headers["ETag"] == c.etag
    assert body.json()["sessions"] == [] and body.json()["restarts"] == [str(new.id)]
    assert api.get(f"/api/chains/{new.id}/").json()["restarted_from"] == str(c.id)


def test_detail_of_an_unknown_or_malformed_id_is_404(api):
    assert api.get(f"/api/chains/{uuid.uuid4()}/").status_code == 404
    assert api.get("/api/chains/not-a-uuid/").status_code == 404
    assert api.get("/api/chains/gggggggg-0000-0000-0000-000000000000/").status_code == 404


def test_create_normalises_the_project_dir(api):
    body = api.post("/api/chains/", {"task": "x", "project_dir": " C:\\repos\\app\\ "},
                    format="json").json()
    assert body["project_dir"] == "C:/repos/app"
    assert api.get("/api/chains/?project=C:/repos/app/").json()["count"] == 1
