"""/views/settings-secrets/ section of the settings page."""

from __future__ import annotations

import pytest

from settings_ui.models import Secret

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
VALUE = "hunter2-but-longer-than-eight"


def test_values_are_masked_as_eight_bullets_and_never_in_the_html(alice_client):
    Secret.put("SHORT", "x")
    Secret.put("LONG", VALUE)
    html = alice_client.get("/settings/").content.decode()
    assert html.count(">••••••••<") == 2
    assert VALUE not in html and 'data-revealed="false"' in html
    assert 'href="#secrets"' in html


def test_it_requires_staff(bob_client):
    assert bob_client.get("/views/settings-secrets/").status_code == 403
    assert bob_client.post("/views/settings-secrets/", {"name": "A", "value": "v"}).status_code == 403


def test_it_rejects_anonymous(anon_client):
    r = anon_client.post("/views/settings-secrets/", {"name": "A", "value": "v"})
    assert r.status_code == 302 and not Secret.objects.exists()


def test_it_rejects_get(alice_client):
    Secret.put("A", "v")
    assert alice_client.get("/views/settings-secrets/A/delete/").status_code == 405


def test_it_stores_a_secret(alice_client):
    r = alice_client.post("/views/settings-secrets/", {"name": "API_KEY", "value": VALUE,
                                                       "label": "prod"}, **HTMX)
    html = r.content.decode()
    assert "Secret API_KEY stored." in html and VALUE not in html
    assert Secret.objects.get().label == "prod"


@pytest.mark.parametrize("data,field", [
    ({"name": "bad-name", "value": "v"}, "name"), ({"name": "A", "value": ""}, "value"),
])
def test_bad_input_shows_inline_errors(alice_client, data, field):
    html = alice_client.post("/views/settings-secrets/", data, **HTMX).content.decode()
    assert f'id="secret-{field}-errors"' in html and not Secret.objects.exists()


def test_the_value_is_not_echoed_back_on_errors(alice_client):
    html = alice_client.post("/views/settings-secrets/", {"name": "bad-name", "value": VALUE},
                             **HTMX).content.decode()
    assert VALUE not in html


def test_delete(alice_client):
    Secret.put("A", "v")
    r = alice_client.post("/views/settings-secrets/A/delete/", **HTMX)
    assert "Secret A deleted." in r.content.decode() and not Secret.objects.exists()
