"""POST /api/chains/{id}/sessions/: record a finished session; totals move with it."""

from __future__ import annotations

import pytest

from chains.models import Chain, Session
from observability.models import AuditEvent

pytestmark = pytest.mark.django_db

OK = {"turns": 12, "cost_usd": 0.75, "input_tokens": 1000, "output_tokens": 200,
      "duration_ms": 60000, "handoff": "## HANDOFF\n**Accomplished:** x", "hit_max_turns": True}


def test_it_records_a_session_and_adds_to_the_totals(api, make_chain):
    c = make_chain()
    r1 = api.post(f"/api/chains/{c.id}/sessions/", OK, format="json")
    r2 = api.post(f"/api/chains/{c.id}/sessions/", {**OK, "error": "boom", "handoff": ""},
                  format="json")
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert (r1.json()["index"], r2.json()["index"]) == (0, 1)
    assert r2.json()["status"] == "error"
    c.refresh_from_db()
    assert float(c.cost_usd) == 1.5 and c.turns == 24 and c.duration_ms == 120000
    assert (c.input_tokens, c.output_tokens, c.session_count) == (2000, 400, 2)
    assert c.consecutive_errors == 1
    body = api.get(f"/api/chains/{c.id}/").json()
    assert [s["handoff"] for s in body["sessions"]] == [OK["handoff"], ""]
    assert AuditEvent.objects.filter(action="session.recorded").count() == 2


def test_a_good_session_resets_consecutive_errors(api, make_chain):
    c = make_chain()
    for _ in range(2):
        api.post(f"/api/chains/{c.id}/sessions/", {**OK, "error": "x"}, format="json")
    api.post(f"/api/chains/{c.id}/sessions/", OK, format="json")
    c.refresh_from_db()
    assert c.consecutive_errors == 0 and c.session_count == 3


@pytest.mark.parametrize("body,field", [
    ({"cost_usd": 1}, "turns"),
    ({"turns": 1}, "cost_usd"),
    ({"turns": -1, "cost_usd": 1}, "turns"),
    ({"turns": 1, "cost_usd": -0.5}, "cost_usd"),
    ({"turns": "x", "cost_usd": 1}, "turns"),
    ({"turns": 1, "cost_usd": 1, "status": "complete"}, "status"),
    ({"turns": 1, "cost_usd": 1, "index": 4}, "index"),
])
def test_it_rejects_bad_sessions(api, make_chain, body, field):
    c = make_chain()
    r = api.post(f"/api/chains/{c.id}/sessions/", body, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not Session.objects.exists()
    assert Chain.objects.get(pk=c.pk).session_count == 0


def test_it_is_409_unless_the_chain_is_running(api, make_chain):
    c = make_chain(status="complete")
    r = api.post(f"/api/chains/{c.id}/sessions/", OK, format="json")
    assert r.status_code == 409
    assert not Session.objects.exists()
