from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's connection settings."""
    for name in ("WAZO_URL", "WAZO_TOKEN", "WAZO_USERNAME", "WAZO_PASSWORD", "WAZO_TENANT",
                 "WAZO_CA_BUNDLE", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
