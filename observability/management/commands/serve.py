from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server, a Celery worker and Celery beat together in the foreground. "
        "Ctrl-C (SIGINT) or SIGTERM stops all three."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-worker", action="store_true")
        parser.add_argument("--no-beat", action="store_true")

    def handle(self, *args, host, port, web_workers, no_worker, no_beat, **options):
        call_command("preflight")
        py = sys.executable
        var = str(settings.VAR_DIR)
        commands = {
            "web": [
                py, "-m", "gunicorn", "operator_site.wsgi:application",
                "--bind", f"{host}:{port}", "--workers", str(web_workers),
                "--access-logfile", "-", "--graceful-timeout", "5",
            ],
        }
        if not no_worker:
            commands["worker"] = [
                py, "-m", "celery", "-A", "operator_site", "worker",
                "--loglevel", "INFO", "--concurrency", "2", "--hostname", "worker@%h",
            ]
        if not no_beat:
            commands["beat"] = [
                py, "-m", "celery", "-A", "operator_site", "beat", "--loglevel", "INFO",
                "--pidfile", f"{var}/celerybeat.pid",
            ]
        procs: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd)
        self.stdout.write(
            self.style.SUCCESS(
                f"Operator on http://{host}:{port}/ ({', '.join(procs)}). Ctrl-C stops all."
            )
        )
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the rest.")
                    exit_code = proc.returncode or 1
                    stopping = True
                    break
            time.sleep(0.3)
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it.")
                proc.kill()
                proc.wait()
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)
