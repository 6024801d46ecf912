"""Trigram indexes behind GET /api/chains/?q= on PostgreSQL; a no-op on SQLite (plain scan).

The expressions match what ChainQuerySet.search() generates: task__icontains compares
UPPER(task), and the id is compared as its text form without dashes.
"""

from __future__ import annotations

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS chain_task_trgm ON chains_chain USING gin (UPPER(task) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS chain_id_trgm ON chains_chain "
    "USING gin (REPLACE((id)::text, '-', '') gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS chain_id_trgm",
    "DROP INDEX IF EXISTS chain_task_trgm",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chains", "0001_chains_and_sessions")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
