from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

from support import sandbox_api
from wazo_reconcile.sandbox import Sandbox

# No example has a time limit (hypothesis's default deadline is 200 ms): a loaded machine
# would fail tests for being slow. Wall-clock limits live in `timing` tests only.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox, its ids seeded (tests that need another define their own)."""
    return Sandbox("fresh", seed=1)


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """The sandbox's confd API, in process."""
    with sandbox_api(sandbox) as client:
        yield client


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's connection settings."""
    for name in (
        "WAZO_URL",
        "WAZO_TOKEN",
        "WAZO_USERNAME",
        "WAZO_PASSWORD",
        "WAZO_TENANT",
        "WAZO_CA_BUNDLE",
        "NO_COLOR",
        "FORCE_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)


# --soak: the long reliability trials (docs/reliability.md). Tests marked `soak` run only with
# it; tests that scale their trial count read the `soak` fixture.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak", action="store_true", default=False, help="run the long reliability soak"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long soak: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    """True under --soak: run the long version of a trial series."""
    return bool(request.config.getoption("--soak"))
