"""Experiment: how fast could the stack be read if its values were built in C?

    python benchmarks/native_reader/measure.py     # needs gcc, libyaml's headers; ~1 min

Compiles ``fastread.c`` (an extension built against libyaml, kept out of the package) into a
temporary directory, writes the generated 5,000-trunk stack, checks that it gives the same
values as ``config.read_file``, then times, in one process and interleaved: PyYAML's C parser
producing its events (nothing built), ``config.read_file`` (the reader ``reconcile`` runs),
and ``fastread.load``. ``fastread`` skips what the real reader adds (key positions,
duplicate keys, anchors, merge keys, tags, depth and alias limits), so its figure is a floor
for a native reader, not a measure of one.
"""

from __future__ import annotations

import gc
import importlib.util
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from yaml import ScalarNode  # noqa: E402
from yaml.constructor import SafeConstructor  # noqa: E402
from yaml.resolver import Resolver  # noqa: E402

from bench_budget import count_events  # noqa: E402
from gen_stack import generate_stack  # noqa: E402
from installed import probe_speed  # noqa: E402
from wazo_reconcile.config import read_file, stack_files  # noqa: E402


def build_fastread(where: Path) -> Any:
    """``fastread.c`` compiled and imported."""
    target = where / f"fastread{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    command = ["gcc", "-O2", "-shared", "-fPIC", f"-I{include}", str(HERE / "fastread.c")]
    subprocess.run([*command, "-lyaml", "-o", str(target)], check=True)
    spec = importlib.util.spec_from_file_location("fastread", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_resolver() -> Callable[[str], Any]:
    """A plain scalar's value, as YAML 1.1 resolves it, once per distinct text."""
    resolver, constructor = Resolver(), SafeConstructor()
    known: dict[str, Any] = {}

    def resolve(text: str) -> Any:
        if text not in known:
            tag = resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
            node = ScalarNode(tag, text)
            known[text] = constructor.construct_object(node)
        return known[text]

    return resolve


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fastread = build_fastread(Path(tmp))
        files = stack_files(generate_stack(5000, Path(tmp) / "stack"))
        blobs = [file.read_bytes() for file in files]
        texts = [blob.decode("utf-8") for blob in blobs]

        def ours() -> list[Any]:
            plain: dict[str, Any] = {}
            return [[d.data for d in read_file(f, plain=plain)[0]] for f in files]

        def native() -> list[Any]:
            resolve = plain_resolver()
            return [fastread.load(blob, resolve) for blob in blobs]

        if native() != ours():
            raise SystemExit("fastread does not give the values config.read_file gives")
        probe = probe_speed()
        gc.disable()
        readers: dict[str, Callable[[], object]] = {
            "events": partial(count_events, texts),
            "read_file": ours,
            "fastread": native,
        }
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(7):
            for name, function in readers.items():
                started = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - started)
        gc.enable()
    size = sum(len(blob) for blob in blobs)
    after = probe_speed()
    print(f"{len(files)} files, {size / 1e6:.1f} MB; speed probe {probe} s before, {after} after")
    for name, values in times.items():
        print(f"{name:10} median {statistics.median(values):.3f} s (min {min(values):.3f})")


if __name__ == "__main__":
    main()
