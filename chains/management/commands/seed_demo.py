"""manage.py seed_demo: realistic chains and sessions so a fresh install shows a populated console."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from chains.models import Chain

TASKS = [
    "Migrate the billing service from REST callbacks to the event bus",
    "Add pagination to the /orders endpoint and update the client SDK",
    "Fix flaky test_checkout_retries on CI (race in the payment mock)",
    "Upgrade Django 4.2 → 5.2 and remove deprecated URL helpers",
    "Write integration tests for the webhook signature verifier",
    "Refactor the search indexer into a background worker",
    "Port the CSV importer to streaming so 2 GB files fit in memory",
    "Add OpenTelemetry tracing to the API gateway",
    "Harden the file upload endpoint against path traversal",
    "Document the deployment runbook for the new region",
    "Replace moment.js with date-fns across the dashboard",
    "Introduce a feature flag for the new onboarding flow",
    "Investigate p95 latency regression on /api/search",
    "Split the monolithic settings module per environment variable group",
    "Add retry with jitter to the S3 client wrapper",
]
PROJECTS = ["/srv/repos/billing", "/srv/repos/storefront", "/srv/repos/platform", ""]
MODELS = ["sonnet", "sonnet", "opus", "haiku"]
FINISHED = ["complete", "complete", "assumed-complete", "max-continuations", "failed", "aborted"]


def _handoff(task: str, i: int, last: bool) -> str:
    head = "## HANDOFF: COMPLETE" if last else "## HANDOFF"
    return (
        f"{head}\n\n**Accomplished:** Session {i + 1} of “{task[:60]}”: read the code, made the "
        f"changes for step {i + 1} and ran the affected tests.\n\n**Remaining:** "
        + ("nothing." if last else f"step {i + 2}: wire the remaining call sites and update docs.")
        + "\n\n**Context:** tests pass locally; see the last commit for details."
    )


class Command(BaseCommand):
    help = "Fill an empty install with demo chains and sessions (skips when chains exist)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=36, help="chains to create (default 36)")
        parser.add_argument("--force", action="store_true", help="add chains even if some exist")
        parser.add_argument("--seed", type=int, default=66, help="random seed (reproducible demo)")

    def handle(self, *args, count: int, force: bool, seed: int, **options):
        if Chain.objects.exists() and not force:
            self.stdout.write("Chains already exist; nothing added (use --force to add anyway).")
            return
        rnd = random.Random(seed)
        now = timezone.now()
        made = sessions = 0
        with transaction.atomic():
            for n in range(count):
                task = TASKS[n % len(TASKS)]
                status = "running" if n % 9 == 0 else rnd.choice(FINISHED)
                chain = Chain.create(
                    actor="seed_demo", task=task, model=rnd.choice(MODELS),
                    project_dir=rnd.choice(PROJECTS), branch=f"operator/demo-{n}",
                    max_turns=rnd.choice([20, 30, 50]), max_continuations=rnd.choice([3, 5, 8]),
                    max_budget_usd=Decimal(rnd.choice(["2.00", "5.00", "10.00"])),
                    metadata={"ticket": f"OPS-{100 + n}"} if n % 3 == 0 else None,
                )
                k = rnd.randint(1, 4) if status != "running" else rnd.randint(0, 2)
                for i in range(k):
                    failed = status == "failed" and i == k - 1
                    chain.record_session(
                        actor="seed_demo", agent_session_id=f"sess_{rnd.getrandbits(48):012x}",
                        turns=rnd.randint(5, chain.max_turns), hit_max_turns=i < k - 1,
                        cost_usd=Decimal(rnd.randint(5, 180)) / 100,
                        input_tokens=rnd.randint(20_000, 400_000),
                        output_tokens=rnd.randint(2_000, 40_000),
                        duration_ms=rnd.randint(60_000, 1_500_000),
                        handoff="" if failed else _handoff(task, i, status == "complete" and i == k - 1),
                        error="Agent exited: overloaded (529) after 3 retries" if failed else "",
                    )
                    sessions += 1
                if status == "aborted":
                    chain.abort(actor="seed_demo")
                elif status != "running":
                    chain.finish(status, actor="seed_demo")
                # Spread the demo over the last two weeks.
                ago = timedelta(minutes=rnd.randint(5, 14 * 24 * 60))
                Chain.objects.filter(pk=chain.pk).update(
                    created_at=now - ago - timedelta(hours=1), updated_at=now - ago
                )
                if status in ("failed", "aborted") and n % 2 == 0:
                    chain.refresh_from_db()
                    new = chain.restart(actor="seed_demo")
                    later = min(now, now - ago + timedelta(minutes=rnd.randint(2, 30)))
                    Chain.objects.filter(pk=new.pk).update(created_at=later, updated_at=later)
                    made += 1
                made += 1
        self.stdout.write(self.style.SUCCESS(f"Created {made} chains with {sessions} sessions."))
