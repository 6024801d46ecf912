"""ensure_admin, preflight and serve: the commands behind `make run`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.fixtures.celery_worker import _database_url, wait_for


@pytest.mark.django_db
class TestEnsureAdmin:
    def test_it_creates_the_user_and_prints_a_generated_password_once(self, monkeypatch):
        monkeypatch.delenv("OPERATOR_ADMIN_PASSWORD", raising=False)
        monkeypatch.setenv("OPERATOR_ADMIN_USER", "root")
        out = StringIO()
        call_command("ensure_admin", stdout=out)
        password = out.getvalue().split("Password: ")[1].split()[0]
        user = get_user_model().objects.get(username="root")
        assert user.is_staff and user.check_password(password)
        again = StringIO()
        call_command("ensure_admin", stdout=again)
        assert "Password" not in again.getvalue()
        assert get_user_model().objects.get(username="root").check_password(password)

    def test_it_uses_the_given_password(self, monkeypatch):
        monkeypatch.setenv("OPERATOR_ADMIN_USER", "root")
        monkeypatch.setenv("OPERATOR_ADMIN_PASSWORD", "s3cret-pass")
        out = StringIO()
        call_command("ensure_admin", stdout=out)
        assert "s3cret-pass" not in out.getvalue()
        assert get_user_model().objects.get(username="root").check_password("s3cret-pass")

    def test_it_restores_staff_rights(self, monkeypatch):
        monkeypatch.setenv("OPERATOR_ADMIN_USER", "root")
        get_user_model().objects.create_user("root", password="x-long-pass")
        call_command("ensure_admin", stdout=StringIO())
        assert get_user_model().objects.get(username="root").is_staff


@pytest.mark.django_db
def test_preflight_names_an_unreachable_broker(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # loopback port 1: refused at once
    with pytest.raises(CommandError, match="(?s)broker is unreachable.*Check REDIS_URL"):
        call_command("preflight", stdout=StringIO())


@pytest.mark.django_db
def test_preflight_passes_when_all_is_reachable():
    out = StringIO()
    call_command("preflight", stdout=out)
    assert "reachable" in out.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_serve_runs_web_worker_and_beat_and_sigint_stops_all(tmp_path):
    from django.conf import settings

    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--web-workers", "1"],
        cwd=settings.BASE_DIR, env={**os.environ, "DATABASE_URL": _database_url()},
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as r:
                    return r.status
            except OSError:
                return None

        assert wait_for(health, timeout=60) == 200
        output = lambda: (tmp_path / "serve.log").read_text(errors="replace")  # noqa: E731
        wait_for(lambda: " ready." in output() and "beat: Starting" in output(), timeout=60)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Stopped." in output()
        assert health() is None
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
