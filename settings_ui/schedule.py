"""When automatic backups are due: pure functions of the schedule and a clock (no Django)."""

from __future__ import annotations

import datetime as dt


def current_slot(schedule: str, daily_hour: int, now: dt.datetime) -> dt.datetime | None:
    """Start of the newest slot that has begun at `now` (None when the schedule is off).

    hourly: the top of the current hour; daily: today at daily_hour, or yesterday's if that
    hour has not come yet. One backup per slot: a missed slot (beat down) runs once when beat
    is back, never once per missed slot.
    """
    if schedule == "hourly":
        return now.replace(minute=0, second=0, microsecond=0)
    if schedule == "daily":
        today = now.replace(hour=daily_hour, minute=0, second=0, microsecond=0)
        return today if now >= today else today - dt.timedelta(days=1)
    return None


def next_slot(schedule: str, daily_hour: int, now: dt.datetime) -> dt.datetime | None:
    slot = current_slot(schedule, daily_hour, now)
    if slot is None:
        return None
    return slot + (dt.timedelta(hours=1) if schedule == "hourly" else dt.timedelta(days=1))


def slot_key(slot: dt.datetime) -> str:
    return f"auto:{slot:%Y-%m-%dT%H}"
