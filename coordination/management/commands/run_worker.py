"""A real worker process: register, heartbeat, claim, run a command per task, report back."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from coordination.models import CoordinatorState, RateLimitState, Task, Terminal, Worker

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 20
RESULT_TAIL_CHARS = 4000


class WorkerLoop:
    """One worker's loop; step() does one claim-and-run and says whether it did work."""

    def __init__(self, code: str, command: str, capabilities: list[str], out=None):
        self.command = command
        self.out = out
        self.worker, _ = Worker.register(code, capabilities)
        existing = Terminal.objects.filter(code=code, status="running").first()
        if existing:  # left running by a previous process that died
            existing.exit(None)
        self.terminal = Terminal.open(code, worker=self.worker, role="worker")
        self.stop_reason = ""

    def say(self, text: str) -> None:
        if self.out:
            self.out.write(text)

    def step(self) -> bool:
        """Heartbeat, honour budget and rate limits, claim one task and run it."""
        self.worker.heartbeat()
        self.worker.refresh_from_db()
        if self.worker.budget_exceeded:
            self.stop_reason = "over budget"
            return False
        if CoordinatorState.load().status != "running":
            return False
        grant = RateLimitState.acquire(0)
        if not grant["granted"]:
            time.sleep(min(grant["wait_ms"] / 1000, 5))
            return False
        task, _ = Task.claim_for(self.worker)
        if task is None:
            return False
        self.run_task(task)
        return True

    def run_task(self, task: Task) -> None:
        Terminal.objects.filter(pk=self.terminal.pk).update(task=task)
        task.start(self.worker)
        self.say(f"{task.code}: running\n")
        self.terminal.append(f"$ {self.command} {shlex.quote(task.text)}   # task {task.code}\n")
        env = {**os.environ, "OPERATOR_TASK_ID": task.code, "OPERATOR_TASK_TEXT": task.text}
        done = threading.Event()
        beat = threading.Thread(target=self._beat_while, args=(done,), daemon=True)
        beat.start()
        tail = ""
        try:
            proc = subprocess.Popen(
                f"{self.command} {shlex.quote(task.text)}", shell=True, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            )
            for line in proc.stdout:
                self.terminal.append(line)
                tail = (tail + line)[-RESULT_TAIL_CHARS:]
            code = proc.wait()
        except OSError as e:
            code, tail = -1, str(e)
        finally:
            done.set()
            beat.join()
        task.refresh_from_db()
        if task.worker_id != self.worker.pk:
            self.say(f"{task.code}: taken away while running (worker went stale)\n")
        elif code == 0:
            task.complete(self.worker, tail)
            self.say(f"{task.code}: complete\n")
        else:
            status = task.fail(self.worker, f"exit {code}: {tail[-1000:]}")
            self.say(f"{task.code}: failed (exit {code}), now {status}\n")
        Terminal.objects.filter(pk=self.terminal.pk).update(task=None)

    def _beat_while(self, done: threading.Event) -> None:
        try:
            while not done.wait(HEARTBEAT_EVERY_S):
                Worker.objects.filter(pk=self.worker.pk).update(last_heartbeat=timezone.now())
        finally:
            connection.close()

    def idle_for_good(self) -> bool:
        """No task could ever come: nothing pending or held."""
        return not Task.objects.filter(status__in=("pending", "assigned", "running")).exists()

    def close(self, exit_code: int = 0) -> None:
        self.terminal.exit(exit_code)
        Worker.objects.filter(pk=self.worker.pk).update(status="stopped")


class Command(BaseCommand):
    help = "Run a worker: claim ready tasks and run COMMAND with each task's text."

    def add_arguments(self, parser):
        parser.add_argument("--id", required=True, help="worker id (also its terminal's id)")
        parser.add_argument("--command", required=True,
                            help="shell command; the task text is appended as one argument")
        parser.add_argument("--capabilities", default="", help="comma-separated categories")
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between idle polls")
        parser.add_argument("--exit-when-idle", action="store_true",
                            help="exit once no task is pending, assigned or running")
        parser.add_argument("--max-tasks", type=int, default=0, help="exit after N tasks")

    def handle(self, *args, **opts):
        caps = [c.strip() for c in opts["capabilities"].split(",") if c.strip()]
        try:
            loop = WorkerLoop(opts["id"], opts["command"], caps, out=self.stdout)
        except Exception as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"worker {opts['id']} registered; waiting for tasks\n")
        done = 0
        try:
            while True:
                if loop.step():
                    done += 1
                    if opts["max_tasks"] and done >= opts["max_tasks"]:
                        break
                    continue
                if loop.stop_reason:
                    self.stdout.write(f"stopping: {loop.stop_reason}\n")
                    break
                if opts["exit_when_idle"] and loop.idle_for_good():
                    break
                time.sleep(opts["poll"])
        except KeyboardInterrupt:
            pass
        finally:
            loop.close(0)
        self.stdout.write(f"worker {opts['id']} done after {done} task(s)\n")
