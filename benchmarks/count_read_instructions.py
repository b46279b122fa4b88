"""Instructions to read YAML: PyYAML's parser alone, then our reader, counted by callgrind.

    python benchmarks/count_read_instructions.py       # needs valgrind; about 2 minutes

Instruction counts do not depend on the host's speed (wall times here move by 2x within a
day), so they compare two versions of the reader exactly. Reads the two 440 KB trunk files
of the generated 1,000-trunk stack in one process, three times under valgrind: imports only,
PyYAML's C parser producing its events (nothing done with them), and `config.read_file`;
prints the counts with the imports subtracted.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_stack import generate_stack  # noqa: E402
from installed import compile_package  # noqa: E402

CHILD = """
import gc, sys
from pathlib import Path
import yaml
from wazo_reconcile.config import read_file
gc.disable()
files = [Path(p) for p in sys.argv[2:]]
if sys.argv[1] == "events":
    for path in files:
        parser = yaml.CSafeLoader(path.read_text())
        while parser.get_event() is not None:
            pass
        parser.dispose()
elif sys.argv[1] == "read":
    for path in files:
        read_file(path, plain={})
"""


def instructions(mode: str, files: list[Path]) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        + [sys.executable, "-c", CHILD, mode, *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"no count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        stack = generate_stack(1000, Path(tmp) / "stack")
        files = sorted(stack.glob("10-trunks-*.yaml"))
        size = sum(f.stat().st_size for f in files)
        base = instructions("none", files)
        events = instructions("events", files) - base
        read = instructions("read", files) - base
    print(f"{len(files)} files, {size / 1000:.0f} KB")
    print(f"PyYAML's parser, events only: {events / 1e6:,.0f} M instructions")
    print(f"config.read_file:             {read / 1e6:,.0f} M instructions")
    print(f"the parser's share:           {events / read:.0%}")


if __name__ == "__main__":
    main()
