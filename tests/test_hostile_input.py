"""Hostile input through `reconcile validate` and `reconcile plan --url` (issue 8).

Every stack below is refused with exit 1 and located messages (`file:line:col: path: message`,
every line of stderr), never a traceback, in less than 5 s (asserted by the `timing` tests
only, deselected by default), and without a single request to the PBX: `plan` runs against a
sandbox served on 127.0.0.1 whose request counter must not move. A generated case that happens
to be valid may be planned (requests allowed) but must not crash.

- named cases: binary garbage, encodings, empty files, deep nesting, alias bombs, huge values,
  YAML tags, devices, FIFOs, a directory of 1,000 files… — in-process, and the dangerous ones
  (memory, blocking) again as subprocesses with a hard timeout;
- hypothesis: generated documents, structural mutations of every example (wrong types,
  missing and extra keys, unicode, huge values, deep nesting) and byte-level mutations.

tests/test_stack.py and tests/test_lint.py already fuzz the reader and the checks as
functions; these go through the CLI. Counts are printed; --soak tries ten times as many.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import EXAMPLE_NAMES, EXAMPLES, RECONCILE, SECRETS
from wazo_reconcile.cli import main
from wazo_reconcile.sandbox import Sandbox

LIMIT = 5.0  # seconds, per command (the `timing` tests)
HANG = 60  # seconds: a subprocess still running then has hung (fails instead of blocking)
# A failing case holding a 1 MB value is still reported (hypothesis would warn about its repr).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
EXAMPLE_FILES = {name: sorted((EXAMPLES / name).rglob("*.yaml")) for name in EXAMPLE_NAMES}


@pytest.fixture(scope="module")
def pbx() -> Iterator[tuple[Sandbox, str]]:
    """The PBX a hostile `plan` must never reach: a sandbox on 127.0.0.1 counting requests."""
    sandbox = Sandbox(profile="fresh")
    with sandbox.serve() as url:
        yield sandbox, url


@pytest.fixture(autouse=True)
def secrets_env() -> Iterator[None]:
    """The examples' variables are set: only what a mutation breaks is wrong."""
    with mock.patch.dict(os.environ, SECRETS):
        yield


# --------------------------------------------------------------------------- checking a case


@dataclass
class Tally:
    """What the cases of one test did, for the printed summary."""

    cases: int = 0
    refused: int = 0
    valid: int = 0
    slowest: float = 0.0
    slowest_case: str = ""

    def line(self, what: str) -> str:
        return (
            f"hostile input ({what}): {self.cases} cases, {self.refused} refused with located "
            f"messages and no request, {self.valid} valid (planned, no crash); slowest command "
            f"{self.slowest:.2f}s ({self.slowest_case})"
        )


def run_main(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - started


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def assert_refused(root: Path, code: int, stdout: str, stderr: str, what: str) -> None:
    """Exit 1, every line of stderr located in a file of `root`, no traceback."""
    assert code == 1, f"{what}: exit {code}\n{stdout}{stderr}"
    assert "Traceback" not in stderr, f"{what}\n{stderr}"
    assert not _CONTROL.search(stdout + stderr), f"{what}: raw control characters\n{stderr!r}"
    located = re.compile(re.escape(str(root)) + r"[^:]*:\d+:\d+: \S.*: \S")
    lines = [line for line in stderr.splitlines() if not line.startswith("error: ")]
    assert lines, f"{what}: no located message\n{stderr}"
    for line in lines:
        assert located.match(line), f"{what}: not located: {line!r}"


def check_case(files: dict[str, bytes], pbx: tuple[Sandbox, str], tally: Tally, what: str) -> bool:
    """Write a stack, run validate and plan on it; True if it was refused."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "stack"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        target = root if len(files) != 1 else root / next(iter(files))
        return check_path(target, root, pbx, tally, what)


def check_path(target: Path, root: Path, pbx: tuple[Sandbox, str], tally: Tally, what: str) -> bool:
    sandbox, url = pbx
    tally.cases += 1
    code, out, err, seconds = run_main(["validate", str(target)])
    _timed(tally, seconds, f"validate {what}")
    before = sandbox.stats()["total"]
    plan = run_main(["plan", str(target), "--url", url, "--token", "hostile-token"])
    _timed(tally, plan[3], f"plan {what}")
    if code == 0:
        tally.valid += 1
        assert "Traceback" not in err + plan[2], f"{what}\n{err}{plan[2]}"
        assert plan[0] in (0, 1, 3), f"{what}: plan exit {plan[0]}\n{plan[2]}"
        return False
    assert_refused(root, code, out, err, f"validate {what}")
    assert_refused(root, *plan[:3], f"plan {what}")
    assert "nothing sent to the PBX" in plan[2]
    assert sandbox.stats()["total"] == before, f"{what}: plan reached the PBX"
    tally.refused += 1
    return True


def _timed(tally: Tally, seconds: float, what: str) -> None:
    if seconds > tally.slowest:
        tally.slowest, tally.slowest_case = seconds, what


def announce(
    capsys: pytest.CaptureFixture[str], record_property: Any, tally: Tally, what: str
) -> None:
    record_property("cases", tally.cases)
    record_property("summary", tally.line(what))
    with capsys.disabled():
        print(f"\n{tally.line(what)}")


# ---------------------------------------------------------------------------- named cases


def _nested(depth: int) -> bytes:
    return b"version: 1\ntrunks: " + b"[" * depth + b"]" * depth + b"\n"


def _alias_bomb() -> bytes:  # a billion laughs: 10^9 strings if expanded
    lines = ["version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return ("\n".join(lines) + "\n").encode()


def _many_invalid_trunks(count: int) -> bytes:
    entries = ", ".join(f"t{i}: {{type: iax, host: [{i}]}}" for i in range(count))
    return f"version: 1\ntrunks: {{{entries}}}\n".encode()


def _thousand_files() -> dict[str, bytes]:
    files = {}
    for i in range(1000):
        body = f"version: 1\ntrunks:\n  t{i}: {{type: iax, host: h{i}.example.net}}\n"
        if i % 100 == 7:  # some broken, the rest fine: every problem is still reported
            body = body.replace("host:", "hots:")
        files[f"d{i // 100}/f{i:04}.yaml"] = body.encode()
    return files


def _secret(ref: str) -> bytes:
    trunk = f"{{type: iax, host: h, options: {{secret: '{ref}'}}}}"
    return f"version: 1\ntrunks: {{t: {trunk}}}\n".encode()


NAMED: dict[str, dict[str, bytes]] = {
    "empty file": {"s.yaml": b""},
    "blank file": {"s.yaml": b"  \n\n\t\n"},
    "comments only": {"s.yaml": b"# nothing\n"},
    "only a document marker": {"s.yaml": b"---\n...\n"},
    "empty documents": {"s.yaml": b"version: 1\n---\n---\n"},
    "NUL bytes": {"s.yaml": b"version: 1\x00\x00\ntrunks: {}\n"},
    "binary garbage": {"s.yaml": random.Random(8).randbytes(4096)},
    "ELF header": {"s.yaml": b"\x7fELF\x02\x01\x01" + bytes(200)},
    "UTF-16": {"s.yaml": "version: 1\ntrunks: {}\n".encode("utf-16")},
    "latin-1": {"s.yaml": "version: 1\ntrunks: {caf\xe9: {}}\n".encode("latin-1")},
    "lone surrogate escape": {"s.yaml": b'version: 1\ntrunks: {"\\ud800": {}}\n'},
    "tab indentation": {"s.yaml": b"version: 1\ntrunks:\n\tacme: {}\n"},
    "unclosed flow": {"s.yaml": b"version: 1\ntrunks: {a: [1, 2\n"},
    "list at the root": {"s.yaml": b"- version: 1\n"},
    "scalar at the root": {"s.yaml": b"hello\n"},
    "version 2": {"s.yaml": b"version: 2\n"},
    "version infinity": {"s.yaml": b"version: 1e999\n"},
    "version NaN": {"s.yaml": b"version: .nan\n"},
    "duplicate keys": {"s.yaml": b"version: 1\ntrunks: {a: {type: iax, host: h}}\ntrunks: {}\n"},
    "python tag": {"s.yaml": b"version: !!python/object/apply:os.system [echo pwned]\n"},
    "unknown tag": {"s.yaml": b"version: 1\ntrunks: !custom {a: 1}\n"},
    "binary tag": {"s.yaml": b"version: 1\ntrunks: {a: {type: iax, host: !!binary aGk=}}\n"},
    "set tag": {"s.yaml": b"version: 1\ntrunks: !!set {a, b}\n"},
    "complex key": {"s.yaml": b"version: 1\ntrunks: {? [a, b] : {}}\n"},
    "null key": {"s.yaml": b"version: 1\ntrunks: {~: {type: iax, host: h}}\n"},
    "deep nesting 70": {"s.yaml": _nested(70)},
    "deep nesting 5000": {"s.yaml": _nested(5000)},
    "deep block nesting": {
        "s.yaml": b"version: 1\ntrunks:\n"
        + b"".join(b"  " * (i + 1) + b"k%d:\n" % i for i in range(100))
        + b"  " * 101
        + b"x\n"
    },
    "alias bomb": {"s.yaml": _alias_bomb()},
    "recursive alias": {"s.yaml": b"version: 1\ntrunks: &a {x: *a}\n"},
    "undefined alias": {"s.yaml": b"version: 1\ntrunks: *nowhere\n"},
    "merge of a scalar": {"s.yaml": b"version: 1\ntrunks: {a: {<<: 1}}\n"},
    "huge string": {
        "s.yaml": b"version: 1\ntrunks: {a: {type: iax, host: " + b"x" * 5_000_000 + b"}}\n"
    },
    "huge integer": {
        "s.yaml": b"version: 1\ntrunks: {a: {type: iax, host: h, options: {trunk: "
        + b"9" * 5000
        + b"}}}\n"
    },
    "4 MB literal password": {  # masked in every output: never compiled into a regex
        "s.yaml": b"version: 1\ntrunks: {t: {type: iax, hots: h, options: {secret: "
        + b"x" * 4_000_000
        + b"}}}\n"
    },
    "huge policy number": {
        "s.yaml": b"version: 1\npolicy: {max_delete_percent: 1" + b"0" * 400 + b"}\n"
    },
    "huge key": {"s.yaml": b"version: 1\ntrunks: {" + b"k" * 1_000_000 + b": {}}\n"},
    "huge line of flow items": {"s.yaml": b"version: 1\nx: [" + b"1," * 200_000 + b"1]\n"},
    "2,000 invalid trunks": {"s.yaml": _many_invalid_trunks(2000)},
    "control characters in a name": {
        "s.yaml": b'version: 1\ntrunks: {"a\\x1b[2Kb": {type: iax, host: h}}\n'
    },
    "line separator in a name": {
        "s.yaml": b'version: 1\ntrunks: {"a\\u2028b": {type: iax, host: h}}\n'
    },
    "right-to-left override in a name": {
        "s.yaml": "version: 1\ntrunks: {a\u202eb: {type: iax, host: h}}\n".encode()
    },
    "missing env secret": {"s.yaml": _secret("${env:HOSTILE_MISSING_VARIABLE}")},
    "secret file missing": {"s.yaml": _secret("${file:nowhere/secret}")},
    "secret file /dev/zero": {"s.yaml": _secret("${file:/dev/zero}")},
    "secret file a directory": {"s.yaml": _secret("${file:/}")},
    "secret file binary": {"s.yaml": _secret("${file:/bin/sh}")},
    "a directory of 1,000 files": _thousand_files(),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_hostile_input_is_refused_in_process(name: str, pbx: tuple[Sandbox, str]) -> None:
    tally = Tally()
    assert check_case(NAMED[name], pbx, tally, name), f"{name} was accepted"


@pytest.mark.timing
@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_hostile_input_is_refused_within_the_limit(
    name: str, pbx: tuple[Sandbox, str]
) -> None:
    tally = Tally()
    check_case(NAMED[name], pbx, tally, name)
    assert tally.slowest < LIMIT, f"{tally.slowest_case} took {tally.slowest:.1f}s"


def test_devices_and_fifos_as_stack_files_are_refused(
    tmp_path: Path, pbx: tuple[Sandbox, str]
) -> None:
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "evil.yaml").symlink_to("/dev/zero")  # git stores symlinks
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "stack.yaml")
    (tmp_path / "fifo" / "secret.yaml").write_bytes(_secret("${file:pipe}"))
    os.mkfifo(tmp_path / "fifo" / "pipe")
    tally = Tally()
    for root in (tmp_path / "zero", tmp_path / "fifo"):
        assert check_path(root, root, pbx, tally, root.name)


# The ones that could take memory or block: again in a real process, with a hard timeout.
SUBPROCESS_CASES = (
    "alias bomb",
    "binary garbage",
    "deep nesting 5000",
    "huge string",
    "secret file /dev/zero",
    "a directory of 1,000 files",
)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_hostile_input_in_a_real_process(
    name: str, tmp_path: Path, pbx: tuple[Sandbox, str]
) -> None:
    in_a_real_process(name, tmp_path, pbx)


@pytest.mark.timing
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_hostile_input_in_a_real_process_within_the_limit(
    name: str, tmp_path: Path, pbx: tuple[Sandbox, str]
) -> None:
    for what, seconds in in_a_real_process(name, tmp_path, pbx).items():
        assert seconds < LIMIT, f"{what} {name}: {seconds:.1f}s"


def in_a_real_process(name: str, tmp_path: Path, pbx: tuple[Sandbox, str]) -> dict[str, float]:
    """Validate and plan the case as subprocesses: refused; the seconds of each command."""
    sandbox, url = pbx
    seconds: dict[str, float] = {}
    for file, content in NAMED[name].items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_bytes(content)
    target = tmp_path if len(NAMED[name]) > 1 else tmp_path / next(iter(NAMED[name]))
    before = sandbox.stats()["total"]
    for argv in (["validate"], ["plan", "--url", url, "--token", "t"]):
        started = time.perf_counter()
        result = subprocess.run(
            [*RECONCILE, argv[0], str(target), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=HANG,
            env={**os.environ, **SECRETS},
            stdin=subprocess.DEVNULL,
        )
        seconds[argv[0]] = time.perf_counter() - started
        assert_refused(tmp_path, result.returncode, result.stdout, result.stderr, name)
    assert sandbox.stats()["total"] == before
    return seconds


# ------------------------------------------------------------------------------ hypothesis

TOP = ("pjsip", "transports", "sip_templates", "trunks", "outcalls", "users", "policy", "tenant")
WORDS = (
    *TOP,
    "version", "global", "system", "type", "host", "label", "templates", "transport",
    "endpoint", "aor", "auth", "outbound_auth", "registration", "registration_outbound_auth",
    "identify", "headers", "match_header", "context", "interface", "interface_suffix",
    "options", "patterns", "exten", "caller_id", "strip_digits", "prefix", "external_prefix",
    "prune", "protect", "ignore", "max_delete_percent", "outgoing_caller_id", "password",
    "secret", "protocol", "bind", "local_net", "peer_type", "internal_caller_id", "username",
)  # fmt: skip
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | st.sampled_from(
        [
            "yes", "sip", "iax", "custom", "udp", "global", "from-extern", "_0XXXX",
            "0.0.0.0:5060", "10.0.0.0/8", "${env:ACME_PASSWORD}", "${env:NOT_SET_ANYWHERE}",
            "${file:nowhere}", "${env:}", "${file:/dev/zero}", "\x1b[2K\r", "a\u202eb",
            "x" * 300, "*", "&", "!!python/name:os.system", "'", '"', "\\", "\n\n", "---",
        ]
    )
)  # fmt: skip
KEYS = st.sampled_from(WORDS) | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)
DOCUMENTS = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1", None, [1]])},
    optional={key: VALUES for key in TOP},
)


def dump(document: Any, style: str) -> bytes:
    if style == "json":
        return json.dumps(document, allow_nan=True).encode()
    text = yaml.dump(
        document, Dumper=yaml.CSafeDumper, allow_unicode=style == "unicode", sort_keys=False
    )
    return text.encode()


@st.composite
def generated_stacks(draw: st.DrawFn) -> dict[str, bytes]:
    documents = draw(st.lists(DOCUMENTS, min_size=1, max_size=3))
    style = draw(st.sampled_from(["yaml", "unicode", "json"]))
    if style != "json" and draw(st.booleans()):
        return {"s.yaml": b"---\n".join(dump(d, style) for d in documents)}
    return {f"{i}.yaml": dump(d, style) for i, d in enumerate(documents)}


HOSTILE_VALUES = (
    VALUES
    | st.just("x" * 1_000_000)
    | st.just(10**4000)  # Python prints at most 4,300 digits
    | st.builds(lambda n: json.loads("[" * n + "]" * n), st.integers(60, 300))
    | st.builds(lambda n: {"k": "é" * n, "\u202e": n}, st.integers(0, 100))
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@st.composite
def mutated_examples(draw: st.DrawFn, name: str) -> dict[str, bytes]:
    """One example with 1-3 structural mutations in one of its documents."""
    files = {p.relative_to(EXAMPLES / name).as_posix(): p for p in EXAMPLE_FILES[name]}
    chosen = draw(st.sampled_from(sorted(files)))
    documents = list(yaml.safe_load_all(files[chosen].read_text()))
    index = draw(st.integers(0, len(documents) - 1))
    document = copy.deepcopy(documents[index])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(document))))
        if not path:
            continue
        parent, last = _parent(document, path), path[-1]
        how = draw(st.sampled_from(["replace", "replace", "delete", "extra", "rename"]))
        if how == "replace":
            parent[last] = draw(HOSTILE_VALUES)
        elif how == "delete":
            del parent[last]
        elif how == "extra" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        elif how == "rename" and isinstance(parent, dict) and isinstance(last, str) and last:
            cut = draw(st.integers(0, len(last) - 1))
            parent.setdefault(last[:cut] + last[cut + 1 :], parent.pop(last))
    documents[index] = document
    style = draw(st.sampled_from(["yaml", "unicode"]))
    out = {rel: path.read_bytes() for rel, path in files.items()}
    out[chosen] = b"---\n".join(dump(d, style) for d in documents)
    return out


@st.composite
def byte_mutations(draw: st.DrawFn) -> dict[str, bytes]:
    """An example file with bytes inserted, removed, repeated or truncated."""
    path = draw(st.sampled_from([p for files in EXAMPLE_FILES.values() for p in files]))
    data = path.read_bytes()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["insert", "delete", "truncate", "repeat", "line"]))
        if how == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 40)) :]
        elif how == "truncate":
            data = data[:at]
        elif how == "repeat":
            data = data[:at] + data[at : at + 30] * draw(st.integers(2, 50)) + data[at:]
        else:
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, draw(st.sampled_from([b"\t", b"  - x", b"&a", b"*a", b"? ", b"{"])))
            data = b"\n".join(lines)
    return {"s.yaml": data}


def _hypothesis_settings(soak: bool, examples: int) -> settings:
    return settings(
        max_examples=examples * (10 if soak else 1),
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run (seeded by the test), printed as a count
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


Fuzz = Callable[[st.SearchStrategy[dict[str, bytes]], int, str], Tally]


@pytest.fixture
def fuzz(
    pbx: tuple[Sandbox, str], soak: bool, capsys: pytest.CaptureFixture[str], record_property: Any
) -> Fuzz:
    """``fuzz(strategy, examples, what)``: every stack the strategy draws (``examples`` of
    them, ten times more in the soak) is refused or planned; the tally is announced."""

    def run(strategy: st.SearchStrategy[dict[str, bytes]], examples: int, what: str) -> Tally:
        tally = Tally()

        def case(files: dict[str, bytes]) -> None:
            check_case(files, pbx, tally, what)

        _hypothesis_settings(soak, examples)(given(strategy)(case))()
        announce(capsys, record_property, tally, what)
        return tally

    return run


def test_generated_documents_are_refused_or_planned(fuzz: Fuzz) -> None:
    tally = fuzz(generated_stacks(), 120, "generated documents")
    assert tally.refused >= tally.cases // 2


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_mutated_examples_are_refused_or_planned(name: str, fuzz: Fuzz) -> None:
    tally = fuzz(mutated_examples(name), 30, f"mutations of {name}")
    assert tally.refused >= tally.cases // 3


def test_byte_mutations_of_examples_are_refused_or_planned(fuzz: Fuzz) -> None:
    tally = fuzz(byte_mutations(), 80, "byte mutations of the examples")
    assert tally.refused >= tally.cases // 3


@pytest.mark.timing
def test_generated_and_mutated_inputs_are_handled_within_the_limit(fuzz: Fuzz) -> None:
    for tally in (
        fuzz(generated_stacks(), 120, "generated documents"),
        fuzz(byte_mutations(), 80, "byte mutations of the examples"),
    ):
        assert tally.slowest < LIMIT, f"{tally.slowest_case} took {tally.slowest:.1f}s"


def test_examples_themselves_are_valid_here(pbx: tuple[Sandbox, str]) -> None:
    """The baseline of the mutations: with their variables set, every example is valid."""
    tally = Tally()
    for name in EXAMPLE_NAMES:
        copy_dir = Path(tempfile.mkdtemp())
        try:
            shutil.copytree(EXAMPLES / name, copy_dir / name)
            assert not check_path(copy_dir / name, copy_dir, pbx, tally, name)
        finally:
            shutil.rmtree(copy_dir)
    assert tally.valid == len(EXAMPLE_NAMES)
