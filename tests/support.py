"""Shared test helpers: sandbox clients, stack generators, convergence and invariant checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

from wazo_reconcile.apply import Report, apply_plan
from wazo_reconcile.confd import ConfdClient, RetryPolicy, connect
from wazo_reconcile.pipeline import fetch_and_compare
from wazo_reconcile.planner import Plan
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.sandbox.client import sandbox_client
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.settings import ConnectionSettings
from wazo_reconcile.stack import Stack, load_stack

STACKS = Path(__file__).resolve().parent / "stacks"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Each directory of examples/ is a stack, except the CI recipes.
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "ci")
# Every secret the tests give the stacks: distinctive values, scanned for in every output.
SECRETS = {
    "ACME_PASSWORD": "acme-Secret-9f3b2",
    "GEN_PASSWORD": "gen-Secret-77a1c",
    "CARRIER_X_PASSWORD": "carrierx-Secret-41d0",
    "CID_PROVIDER_PASSWORD": "cid-Secret-5e8a2",
    "HQ_IAX_SECRET": "hq-Secret-0c7f1",
    "MASTER_PROVIDER_PASSWORD": "master-Secret-a9d3",
    "SHARED_PROVIDER_ABC123_PASSWORD": "abc123-Secret-6b2e",
    "SHARED_PROVIDER_DEF456_PASSWORD": "def456-Secret-d41c",
    "SUB_PROVIDER_PASSWORD": "sub-Secret-83f0",
}


def client_for(sandbox: Sandbox) -> ConfdClient:
    return sandbox_client(sandbox, retry=RetryPolicy.no_wait())


def plan(stack: Stack, client: ConfdClient, env: dict[str, str] | None = None) -> Plan:
    resolver = SecretResolver({**os.environ, **SECRETS, **(env or {})})
    return fetch_and_compare(stack, client, resolver=resolver)


def apply(stack: Stack, client: ConfdClient, parallelism: int = 4) -> tuple[Plan, Report]:
    planned = plan(stack, client)
    return planned, apply_plan(planned, client, parallelism=parallelism)


def generated_stack(directory: Path, *, sip: int = 12, iax: int = 3, custom: int = 2) -> Stack:
    """A stack of about 30 changes on a fresh sandbox, every kind and link used."""
    lines = [
        "version: 1",
        "transports:",
        "  transport-udp: {protocol: udp, bind: 0.0.0.0:5060, local_net: [10.0.0.0/8]}",
        "  transport-tcp: {protocol: tcp, bind: 0.0.0.0:5060}",
        "sip_templates:",
        "  global: {endpoint: {rtp_symmetric: yes, rewrite_contact: yes}}",
        "  gen-base: {templates: [global], transport: transport-tcp, aor: {qualify_frequency: 30}}",
        "  gen-mid: {templates: [gen-base], endpoint: {allow: '!all,alaw'}}",
        "  gen-top: {templates: [gen-mid], registration: {expiration: 120}}",
        "trunks:",
    ]
    for i in range(sip):
        lines += [
            f"  gen-sip-{i}:",
            f"    templates: [gen-{'top' if i % 2 else 'mid'}]",
            "    context: from-extern",
            f"    endpoint: {{from_domain: sip{i}.example.com, set_var: [A=1, B={i}]}}",
            f"    identify: {{match: [198.51.100.{i}, 198.51.100.{i + 100}]}}",
            f"    outbound_auth: {{username: u{i}, password: '${{env:GEN_PASSWORD}}'}}",
        ]
    for i in range(iax):
        lines += [
            f"  gen-iax-{i}: {{type: iax, host: iax{i}.example.net, options: {{trunk: yes}}}}"
        ]
    for i in range(custom):
        lines += [
            f"  gen-local-{i}: {{type: custom, interface: Local/gen{i}, interface_suffix: '@x{i}'}}"
        ]
    lines.append("outcalls:")
    for i in range(5):
        trunks = [f"gen-sip-{i}", f"gen-iax-{i % iax}", f"gen-sip-{i + 5}"]
        lines += [
            f"  gen-route-{i}:",
            f"    trunks: [{', '.join(trunks)}]",
            "    patterns:",
            f"      - {{exten: '_{i}XXXX', caller_id: '\"Gen\" <555000{i}>', strip_digits: 1}}",
            f"      - {{exten: '_9{i}XXXXXX', external_prefix: '+33'}}",
        ]
    lines += [
        "users:",
        "  alice@example.com: {outgoing_caller_id: anonymous}",
        "  bob: {outgoing_caller_id: '\"Bob\" <5550001>'}",
        "  carol@example.com: {outgoing_caller_id: default}",
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text("\n".join(lines) + "\n")
    return load_stack(directory)


class StateSource(Protocol):
    """Whatever shows a sandbox's whole state: a `Sandbox`, or a served one (`ServedState`)."""

    def state(self) -> dict[str, Any]: ...


def invariants(sandbox: StateSource) -> list[str]:
    """What must never be left behind: duplicates, orphan endpoints, bare trunks."""
    state = sandbox.state()
    problems = []
    attached: Counter[tuple[str, Any]] = Counter()
    for trunk in state["trunks"]:
        links = [
            (k, trunk[k]) for k in ("endpoint_sip_uuid", "endpoint_iax_id", "endpoint_custom_id")
        ]
        links = [link for link in links if link[1] is not None]
        if not links:
            problems.append(f"bare trunk {trunk['id']}")
        attached.update(links)
    problems += [f"endpoint attached twice: {k}" for k, n in attached.items() if n > 1]
    endpoints = [
        ("endpoint_sip_uuid", e["uuid"], e["name"]) for e in state["sip"] if not e["template"]
    ]
    endpoints += [("endpoint_iax_id", e["id"], e["name"]) for e in state["iax"]]
    endpoints += [("endpoint_custom_id", e["id"], e["interface"]) for e in state["custom"]]
    problems += [f"orphan endpoint {name}" for k, i, name in endpoints if (k, i) not in attached]
    names = Counter(e["name"] for e in state["sip"]) + Counter(e["name"] for e in state["iax"])
    problems += [f"duplicate name {n}" for n, count in names.items() if count > 1]
    outcalls = Counter(o["name"] for o in state["outcalls"])
    problems += [f"duplicate outcall {n}" for n, count in outcalls.items() if count > 1]
    return problems


RECONCILE = [sys.executable, "-m", "wazo_reconcile"]


@contextmanager
def served_sandbox(*extra: str) -> Iterator[str]:
    """`reconcile sandbox` as a subprocess on 127.0.0.1; yields its base URL."""
    with subprocess.Popen(
        [*RECONCILE, "sandbox", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            yield process.stdout.readline().strip()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`reconcile ARGS` as a subprocess, with the test secrets in its environment."""
    environ = {**os.environ, **SECRETS, **(env or {})}
    return subprocess.run(
        [*RECONCILE, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def url_client(url: str) -> ConfdClient:
    """A direct client on a served sandbox (for hand edits in tests)."""
    settings = ConnectionSettings(url=url, token="test-token")
    return connect(settings, retry=RetryPolicy.no_wait())


# --------------------------------------------------------------------- reliability (issue 8)


class ServedState:
    """A served sandbox seen through `GET /_sandbox/state`, for `invariants` and `lost`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:

        answer = httpx.get(f"{self.url}/_sandbox/state", timeout=30)
        answer.raise_for_status()
        return dict(answer.json())


def lost(stack: Stack, state: dict[str, Any]) -> list[str]:
    """Declared trunks and outcalls missing from a sandbox state, or wired differently."""
    sip = {e["uuid"]: e["name"] for e in state["sip"] if not e["template"]}
    iax = {e["id"]: e["name"] for e in state["iax"]}
    custom = {e["id"]: e["interface"] for e in state["custom"]}
    handles: dict[int, str] = {}
    for trunk in state["trunks"]:
        for key, names in (
            ("endpoint_sip_uuid", sip),
            ("endpoint_iax_id", iax),
            ("endpoint_custom_id", custom),
        ):
            if trunk[key] is not None and trunk[key] in names:
                handles[trunk["id"]] = names[trunk[key]]
    problems = []
    by_interface = {}
    for decl in stack.declarations("trunks"):
        identity = decl.data.get("interface") if decl.data.get("type") == "custom" else decl.name
        by_interface[identity] = decl.name
        if identity not in handles.values():
            problems.append(f"lost trunk {decl.name}")
    outcalls = {o["name"]: o for o in state["outcalls"]}
    for decl in stack.declarations("outcalls"):
        outcall = outcalls.get(decl.name)
        if outcall is None:
            problems.append(f"lost outcall {decl.name}")
            continue
        wired = [
            by_interface.get(handles.get(i, "?"), handles.get(i, "?")) for i in outcall["trunk_ids"]
        ]
        if "trunks" in decl.data and wired != list(decl.data["trunks"]):
            problems.append(f"outcall {decl.name} routes to {wired}, not {decl.data['trunks']}")
        if "patterns" in decl.data and len(outcall["patterns"]) != len(decl.data["patterns"]):
            problems.append(f"outcall {decl.name} has {len(outcall['patterns'])} patterns")
    return problems


def reset_served(url: str) -> None:
    """Back to the seed state, counters at zero (`POST /_sandbox/reset`)."""

    answer = httpx.post(f"{url}/_sandbox/reset", json={"state": True}, timeout=30)
    answer.raise_for_status()


# --------------------------------------------------------------------- the sandbox's API


@contextmanager
def sandbox_api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A raw httpx client on a sandbox's confd API, any token (for the sandbox's own tests)."""
    with httpx.Client(
        transport=sandbox.transport(),
        base_url="http://sandbox/api/confd/1.1",
        headers={"X-Auth-Token": "any-token"},
    ) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a response that must have ``status``."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: httpx.Response, status: int = 400) -> str:
    """The one message of an error response that must have ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1, body
    return str(body[0])


# Every fault kind of the sandbox (docs/sandbox.md), the three error statuses apart.
FAULT_KINDS = (
    ("error", 500),
    ("error", 502),
    ("error", 503),
    ("rate_limit", 503),
    ("drop_before", 503),
    ("drop_after", 503),
    ("timeout", 503),
    ("saved_then_500", 503),
)
