"""/api/export/<kind>/: streamed CSV / JSON / JSONL with the audit filters, and the registry."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.contrib.auth.models import Group
from rest_framework.exceptions import ValidationError

from observability import exports
from observability.events import emit

pytestmark = pytest.mark.django_db


def _body(r) -> str:
    assert r.streaming, "exports must stream"
    return b"".join(r.streaming_content).decode()


def test_it_rejects_anonymous(anon_api):
    assert anon_api.get("/api/export/audit/").status_code == 401


def test_it_requires_staff(bob_api):
    assert bob_api.get("/api/export/audit/").status_code == 403


def test_it_accepts_a_bearer_token(alice_token):
    from rest_framework.test import APIClient

    r = APIClient().get("/api/export/audit/?format=csv", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert r.status_code == 200


def test_it_exports_csv_with_a_timed_filename(api):
    emit("chain.created", actor="alice", target=("chain", "c1"), data={"task": "x"})
    r = api.get("/api/export/audit/?format=csv")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert re.fullmatch(r'attachment; filename="audit-\d{8}-\d{6}\.csv"', r["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(_body(r))))
    assert rows[0] == ["ts", "action", "category", "actor", "target_type", "target_id", "data", "request_id"]
    assert rows[1][1:7] == ["chain.created", "chain", "alice", "chain", "c1", '{"task":"x"}']


def test_it_quotes_and_escapes_formula_cells(api):
    emit("chain.created", actor="=cmd|' /C calc'!A0", target=("chain", "a,b"),
         data={"note": 'He said "hi"\nbye'})
    emit("chain.updated", actor="+1", target=("chain", "-2"))
    emit("chain.updated", actor="@SUM(1)", target=("chain", "\tx"))
    text = _body(api.get("/api/export/audit/?format=csv"))
    rows = list(csv.reader(io.StringIO(text)))
    first = [r for r in rows[1:] if r[1] == "chain.created"][0]
    assert first[3] == "'=cmd|' /C calc'!A0"
    assert first[5] == "a,b" and json.loads(first[6]) == {"note": 'He said "hi"\nbye'}
    assert '"a,b"' in text
    assert {r[3] for r in rows[1:] if r[1] == "chain.updated"} == {"'+1", "'@SUM(1)"}
    assert {r[5] for r in rows[1:] if r[1] == "chain.updated"} == {"'-2", "'\tx"}


def test_it_exports_jsonl(api):
    for i in range(3):
        emit("task.created", target=("task", f"t{i}"))
    r = api.get("/api/export/audit/?format=JSONL")
    assert r["Content-Type"] == "application/x-ndjson"
    lines = _body(r).splitlines()
    assert [json.loads(x)["target_id"] for x in lines] == ["t2", "t1", "t0"]  # newest first
    assert json.loads(lines[0])["category"] == "task"


def test_it_exports_json_by_default(api):
    emit("backup.created", target=("backup", "b1"), data={"size": 10})
    r = api.get("/api/export/audit/")
    assert r["Content-Type"] == "application/json"
    assert r["Content-Disposition"].endswith('.json"')
    rows = json.loads(_body(r))
    assert rows[0]["data"] == {"size": 10} and rows[0]["ts"].endswith("Z")


@pytest.mark.parametrize("fmt,expected", [("csv", "ts,action,category,actor,target_type,target_id,data,request_id\r\n"),
                                          ("json", "[]\n"), ("jsonl", "")])
def test_it_exports_empty_results(api, fmt, expected):
    assert _body(api.get(f"/api/export/audit/?format={fmt}")) == expected


def test_it_carries_the_filters(api):
    emit("chain.created", actor="alice", target=("chain", "c1"), data={"task": "needle"})
    emit("chain.created", actor="bob", target=("chain", "c2"), data={"task": "needle"})
    emit("task.created", actor="alice", target=("task", "t1"), data={"task": "needle"})
    emit("chain.failed", actor="alice", target=("chain", "c3"))
    lines = _body(api.get("/api/export/audit/?format=jsonl&category=chain&actor=alice&q=NEEDLE")).splitlines()
    assert [json.loads(x)["target_id"] for x in lines] == ["c1"]
    lines = _body(api.get("/api/export/audit/?format=jsonl&action=chain.failed")).splitlines()
    assert [json.loads(x)["target_id"] for x in lines] == ["c3"]
    lines = _body(api.get("/api/export/audit/?format=jsonl&target_type=task&target_id=t1")).splitlines()
    assert len(lines) == 1


@pytest.mark.parametrize("query,field", [
    ("format=xlsx", "format"), ("since=garbage", "since"), ("until=2026-02-30", "until"),
    ("since=2026-11-21T00:00:00Z&until=2026-11-20T00:00:00Z", "until"), ("category=zzz", "category"),
])
def test_it_rejects_bad_input_with_400(api, query, field):
    r = api.get(f"/api/export/audit/?{query}")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert field in r.json()


def test_it_answers_404_for_unknown_kinds(api):
    assert api.get("/api/export/nothing-here/?format=csv").status_code == 404


def test_the_registry_exposes_other_kinds(api):
    Group.objects.create(name="=ops")
    Group.objects.create(name="devs")

    def groups(params):
        if params.get("name") == "bad":
            raise ValidationError({"name": ["Bad name."]})
        qs = Group.objects.order_by("name")
        return qs.filter(name=params["name"]) if params.get("name") else qs

    exports.register("groups", groups, ["name", ("upper", lambda row: row["name"].upper())], fetch=["id"])
    try:
        assert "groups" in exports.kinds()
        text = _body(api.get("/api/export/groups/?format=csv"))
        assert text == "name,upper\r\n'=ops,'=OPS\r\ndevs,DEVS\r\n"
        assert json.loads(_body(api.get("/api/export/groups/?format=json&name=devs"))) == [
            {"name": "devs", "upper": "DEVS"}]
        assert api.get("/api/export/groups/?name=bad").json() == {"name": ["Bad name."]}
    finally:
        exports.unregister("groups")
