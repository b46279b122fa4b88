"""A corpus of mistakes a Wazo admin makes writing a stack from docs/ and the interconnection
guide, one small stack each in tests/mistakes/: typos in secret references, option values,
references and caller IDs, YAML quoting and indentation, wrong types.

Each file starts with ``# mistake:`` (what was meant) and ``# expect:`` (a piece of the
problem `validate --strict` must report), or ``# expect at plan:`` for the few mistakes only
the PBX can reveal (a context, a user): `plan` must report those. The figure for issue 24's
closing note is printed: how many of the corpus `validate --strict` rejects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from support import SECRETS
from wazo_reconcile.cli import main

CORPUS = Path(__file__).resolve().parent / "mistakes"
ENV = {**SECRETS, "ACME_HOST": "sip.acme.example"}
# Rejected by `validate --strict` / only by `plan` (contexts and users live on the PBX).
REJECTED_OFFLINE = 57
REJECTED_AT_PLAN = 3


class Mistake(NamedTuple):
    path: Path
    what: str
    expect: str
    at_plan: bool


def corpus() -> list[Mistake]:
    found = []
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        what = re.search(r"^# mistake: (.+)$", text, re.M)
        expect = re.search(r"^# expect( at plan)?: (.+)$", text, re.M)
        assert what and expect, f"{path.name}: no '# mistake:' or '# expect:' line"
        found.append(Mistake(path, what[1], expect[2], expect[1] is not None))
    return found


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", "--strict", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("mistake", corpus(), ids=lambda m: m.path.stem)
def test_each_mistake_is_reported_where_it_is(
    mistake: Mistake, capsys: pytest.CaptureFixture[str]
) -> None:
    if mistake.at_plan:
        assert validate(mistake.path, capsys)[0] == 0  # offline, it may be right
        code = main(["plan", "--sandbox", str(mistake.path)])
        err = capsys.readouterr().err
    else:
        code, err = validate(mistake.path, capsys)
    assert code == 1
    assert mistake.expect in err
    assert err.startswith(f"{mistake.path}:")  # located: file:line:col


def test_how_many_mistakes_validate_rejects(capsys: pytest.CaptureFixture[str]) -> None:
    mistakes = corpus()
    rejected = [m for m in mistakes if validate(m.path, capsys)[0] == 1]
    with capsys.disabled():
        print(
            f"\nmistake corpus: validate --strict rejects {len(rejected)} of {len(mistakes)}; "
            f"plan rejects the other {len(mistakes) - len(rejected)}"
        )
    assert len(mistakes) >= 40
    assert len(rejected) == REJECTED_OFFLINE
    assert len(mistakes) - len(rejected) == REJECTED_AT_PLAN
