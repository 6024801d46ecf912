from __future__ import annotations

import pytest

from chains.models import Chain


@pytest.fixture
def make_chain(db):
    """Chain factory: make_chain(task=..., status=..., **fields)."""

    def make(**fields) -> Chain:
        fields.setdefault("task", "Refactor the billing module")
        return Chain.objects.create(**fields)

    return make
