"""The timeline's link resolver for target type "chain"."""

from __future__ import annotations

import pytest

from observability import links

pytestmark = pytest.mark.django_db


def test_it_links_existing_chains_and_marks_deleted_ones(make_chain):
    c = make_chain(status="complete")
    gone = make_chain(status="complete")
    gone_id = str(gone.id)
    gone.delete()
    out = links.resolve([("chain", str(c.id)), ("chain", gone_id), ("chain", "garbage")])
    assert out[("chain", str(c.id))] == f"/chains/{c.id}/"
    assert out[("chain", gone_id)] is None and out[("chain", "garbage")] is None


def test_the_timeline_links_chain_events(alice_client, api):
    cid = api.post("/api/chains/", {"task": "Linked"}, format="json").json()["id"]
    html = alice_client.get("/timeline/").content.decode()
    assert f'href="/chains/{cid}/"' in html
