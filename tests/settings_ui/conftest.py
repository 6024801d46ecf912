from __future__ import annotations

from tests.fixtures.receiver import receiver  # noqa: F401 - the local HTTP receiver fixture
