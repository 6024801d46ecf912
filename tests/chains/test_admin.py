"""The chain admin pages render (changelist and change form with the sessions inline)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_renders_the_changelist_and_change_form(client, django_user_model, make_chain):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw-123456789")
    client.force_login(root)
    c = make_chain(task="Admin visible")
    c.record_session(turns=1, cost_usd=1)
    assert "Admin visible" in client.get("/admin/chains/chain/").content.decode()
    assert client.get(f"/admin/chains/chain/{c.id}/change/").status_code == 200
