"""Signals other apps can listen to (connect in AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a restore commits (kwargs: backup). Anything a process keeps in memory that was
# read from the database (a cached webhook list, a loaded key ring) should be reloaded.
data_restored = Signal()
