"""manage.py run_chain "task" [--project DIR] [--budget USD] [--follow] [--here]"""

from __future__ import annotations

import threading
import time
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from chains import runner
from chains.models import Chain, ChainRun, OutputChunk
from settings_ui.models import OperatorSettings

OK_STATUSES = {"complete", "assumed-complete", "max-continuations"}


class Command(BaseCommand):
    help = "Start a chain from the shell; with --follow, print its live output and final status."

    def add_arguments(self, parser):
        parser.add_argument("task")
        parser.add_argument("--project", default="", help="Project directory (the agent's cwd)")
        parser.add_argument("--budget", help="Budget in USD (default: settings)")
        parser.add_argument("--model", choices=[c for c, _ in Chain.Model.choices])
        parser.add_argument("--max-continuations", type=int)
        parser.add_argument("--max-turns", type=int)
        parser.add_argument("--backend", help="claude | command (default: settings)")
        parser.add_argument("--follow", action="store_true", help="Print live output until the chain ends")
        parser.add_argument("--here", action="store_true",
                            help="Run the sessions in this process instead of on the Celery workers")
        parser.add_argument("--poll", type=float, default=0.5, help=argparse_hidden())

    def handle(self, *args, **opts):
        task = opts["task"].strip()
        if not task:
            raise CommandError("task is required")
        cfg = OperatorSettings.load()
        try:
            budget = Decimal(opts["budget"]) if opts["budget"] is not None else Decimal(str(cfg.max_budget_usd))
        except InvalidOperation:
            raise CommandError(f"--budget: not a number: {opts['budget']!r}") from None
        fields = {
            "task": task, "project_dir": opts["project"], "max_budget_usd": budget,
            "model": opts["model"] or cfg.model,
            "max_turns": opts["max_turns"] or cfg.max_turns,
            "max_continuations": opts["max_continuations"] or cfg.max_continuations,
        }
        for name, low, high in (("max_turns", 1, 200), ("max_continuations", 1, 20)):
            if not low <= fields[name] <= high:
                raise CommandError(f"--{name.replace('_', '-')}: must be between {low} and {high}")
        try:
            backend = runner.check_start_input(
                project_dir=fields["project_dir"], max_budget_usd=budget, backend=opts["backend"]
            )
            with transaction.atomic():
                chain = Chain.create(actor="cli", **fields)
                runner.start_chain(chain, actor="cli", backend=backend, enqueue=not opts["here"])
        except runner.StartRefused as e:
            raise CommandError(f"{e.field or 'state'}: {e.message}") from None
        self.stdout.write(f"Chain {chain.pk} started ({backend} backend).")

        worker = None
        if opts["here"]:
            worker = threading.Thread(target=self._run_here, args=(chain.pk,), daemon=True)
            worker.start()
        if not opts["follow"]:
            if worker:
                worker.join()
                return self._final(chain)
            return None
        last = 0
        while True:
            chain.refresh_from_db()
            run = ChainRun.objects.get(pk=chain.pk)
            done = not chain.is_running and not run.claim
            for cid, text in OutputChunk.objects.filter(chain=chain, id__gt=last).order_by("id").values_list("id", "text"):
                self.stdout.write(text, ending="")
                last = cid
            if done and (worker is None or not worker.is_alive()):
                break
            time.sleep(opts["poll"])
        if worker:
            worker.join()
        return self._final(chain)

    def _run_here(self, chain_id) -> None:
        try:
            while runner.run_session(chain_id):
                pass
        finally:
            connection.close()

    def _final(self, chain: Chain) -> None:
        chain.refresh_from_db()
        run = ChainRun.objects.get(pk=chain.pk)
        line = (f"Chain {chain.pk}: {chain.status} — {chain.session_count} sessions, "
                f"{chain.turns} turns, ${chain.cost_usd:.4f}")
        if chain.status not in OK_STATUSES and chain.status != "running":
            raise CommandError(line + (f" ({run.last_error})" if run.last_error else ""))
        self.stdout.write(line)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
