"""Helpers for the coordination suites: a running coordinator and registered workers."""

from __future__ import annotations

import pytest

from coordination.models import CoordinatorState, Task, Worker


@pytest.fixture
def running():
    state = CoordinatorState.load()
    state.start()
    return state


@pytest.fixture
def worker(db):
    return Worker.register("w1")[0]


@pytest.fixture
def make_tasks(db):
    def make(*specs):
        out = []
        for spec in specs:
            if isinstance(spec, str):
                spec = {"id": spec}
            out.extend(Task.create_many([spec]))
        return out if len(out) > 1 else out[0]

    return make
