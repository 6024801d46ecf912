from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from observability import health


class Command(BaseCommand):
    help = "Check that the database and the Celery broker are reachable; explain how to fix them."

    def handle(self, *args, **options):
        problems = []
        db_ok, db_detail = health.check_database()
        if not db_ok:
            problems.append(
                f"The database is unreachable ({db_detail}).\n"
                "  Check DATABASE_URL (unset it to use SQLite in var/) and that the server is "
                "running, e.g. `pg_ctlcluster 15 main start`."
            )
        broker_ok, broker_detail = health.check_broker()
        if not broker_ok:
            problems.append(
                f"The Celery broker is unreachable ({broker_detail}).\n"
                "  Check REDIS_URL (unset it to use the filesystem broker in var/broker/) and "
                "that Redis is running, e.g. `redis-server --daemonize yes`."
            )
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(f"Database ({db_detail}) and broker ({broker_detail}) are reachable.")
