"""`reconcile` as a program (`cli.console`): all its output, its exit status, and no traceback
when its reader goes away."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import RECONCILE, SECRETS

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "nat-provider")
ENV = {**os.environ, **SECRETS}


def test_the_program_writes_all_its_output_and_its_exit_status() -> None:
    planned = subprocess.run(
        [*RECONCILE, "plan", "--sandbox", "--detailed-exitcode", "--format", "json", EXAMPLE],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert planned.returncode == 2, planned.stderr
    assert planned.stdout.rstrip().endswith("}")  # the whole JSON document
    assert '"create"' in planned.stdout


def test_a_reader_gone_early_gives_exit_1_without_a_traceback() -> None:
    with subprocess.Popen(
        [*RECONCILE, "plan", "--sandbox", EXAMPLE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # before anything is written: every write fails
        error = process.stderr.read()
        assert process.wait(60) == 1
    assert "Traceback" not in error and "Exception ignored" not in error
