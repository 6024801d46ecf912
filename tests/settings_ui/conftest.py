from __future__ import annotations

import pytest

from tests.fixtures.receiver import receiver  # noqa: F401 - the local HTTP receiver fixture


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    """Each test writes its backup files to its own folder."""
    settings.OPERATOR_BACKUP_DIR = tmp_path / "backups"
    return settings.OPERATOR_BACKUP_DIR
