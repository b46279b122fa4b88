"""Issue 26's proof: three sandboxes on 127.0.0.1 stand for three PBXs, with tenant UUIDs of
their own; one repository (a shared stack, per-PBX variables, one extra trunk on one PBX) is
applied to all, planned empty, a hand edit is caught by the fleet drift (and its metrics), and
a stopped PBX fails alone."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from support import SECRETS, run_cli, served_sandbox, url_client

PBXS = {"paris": "203.0.113.10", "lyon": "203.0.113.20", "nice": "203.0.113.30"}
TOKENS = {f"{name.upper()}_WAZO_TOKEN": f"{name}-token-of-the-fleet" for name in PBXS}

SHARED_TRANSPORT = """\
# the NAT transport: each PBX's public address is a variable, not a secret
version: 1
transports:
  transport-udp:
    protocol: udp
    bind: 0.0.0.0:5060
    external_signaling_address: ${var:public_ip}
    external_media_address: ${var:public_ip}
    local_net: [10.0.0.0/8]
"""

SHARED_CARRIER = """\
version: 1
tenant: master
sip_templates:
  global:
    endpoint: {rtp_symmetric: yes, rewrite_contact: yes}
  carrier-base:
    templates: [global]
    transport: transport-udp
trunks:
  carrier:
    templates: [carrier-base]
    context: from-extern
    aor: {contact: "sip:sip.carrier.example"}
    outbound_auth: {username: "${var:account}", password: "${env:ACME_PASSWORD}"}
outcalls:
  national:
    trunks: [carrier]
    patterns:
      - {exten: _0XXXXXXXXX}
"""

PARIS_BACKUP = """\
version: 1
tenant: Sub tenant            # by name: each sandbox gives it another UUID
sip_templates:
  global:
    endpoint: {rtp_symmetric: yes}
trunks:
  paris-backup:
    templates: [global]
    context: Incalls
    aor: {contact: "sip:backup.example"}
"""


def repository(root: Path, urls: dict[str, str]) -> Path:
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "10-transport.yaml").write_text(SHARED_TRANSPORT, encoding="utf-8")
    (root / "shared" / "20-carrier.yaml").write_text(SHARED_CARRIER, encoding="utf-8")
    (root / "pbx" / "paris").mkdir(parents=True)
    (root / "pbx" / "paris" / "trunks.yaml").write_text(PARIS_BACKUP, encoding="utf-8")
    lines = [
        "version: 1",
        "defaults:",
        "  stacks: [shared]",
        '  credentials: {token_env: "{PBX}_WAZO_TOKEN"}',
        "pbxs:",
    ]
    for name, address in PBXS.items():
        lines += [
            f"  {name}:",
            f"    url: {urls[name]}",
            f"    variables: {{public_ip: {address}, account: {name}-1}}",
        ]
        if name == "paris":
            lines.append("    stacks: [pbx/paris]")
    inventory = root / "inventory.yaml"
    inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return inventory


def reconcile(*args: str) -> tuple[int, str, str]:
    done = run_cli(*args, env=TOKENS, timeout=120)
    for secret in [*SECRETS.values(), *TOKENS.values()]:
        assert secret not in done.stdout + done.stderr
    return done.returncode, done.stdout, done.stderr


def summary_row(out: str, pbx: str) -> str:
    (row,) = [line for line in out.splitlines() if re.match(rf"\s+{pbx}\s", line)]
    return row


def parse_openmetrics(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


def master_tenant(url: str) -> str:
    answer = httpx.get(f"{url}/api/auth/0.1/tenants?slug=master", headers={"X-Auth-Token": "t"})
    return str(answer.json()["items"][0]["uuid"])


@pytest.mark.slow
def test_a_fleet_of_three_pbxs(tmp_path: Path) -> None:
    with ExitStack() as running, ExitStack() as nice_running:
        urls = {
            name: (nice_running if name == "nice" else running).enter_context(
                served_sandbox("--new-tenant-uuids")
            )
            for name in PBXS
        }
        assert len({master_tenant(url) for url in urls.values()}) == 3
        inventory = str(repository(tmp_path, urls))
        fleet = ("--inventory", inventory)

        code, out, err = reconcile("validate", *fleet, "--all")
        assert code == 0, out + err

        code, out, err = reconcile("apply", *fleet, "--all", "--auto-approve")
        assert code == 0, out + err
        for name, address in PBXS.items():
            assert f"=== {name} ===" in out
            assert f"external_signaling_address = {address}" in out  # a variable: shown
            assert f"username = {name}-1" in out
            assert summary_row(out, name).split()[1:] == [
                "7" if name == "paris" else "5",
                "-",
                "applied",
                "0",
            ]
        assert "password = (sensitive)" in out  # a secret: masked

        code, out, err = reconcile("plan", *fleet, "--all", "--detailed-exitcode")
        assert code == 0, out + err
        assert all("no changes" in summary_row(out, name) for name in PBXS)

        with url_client(urls["lyon"]) as client:  # a hand edit on one PBX
            (endpoint,) = client.list(
                "/endpoints/sip", params={"name": "carrier", "recurse": "true"}
            )
            client.put(
                f"/endpoints/sip/{endpoint['uuid']}",
                {"aor_section_options": [["contact", "sip:elsewhere.example"]]},
            )
        metrics = tmp_path / "wazo_reconcile.prom"
        code, out, err = reconcile("drift", *fleet, "--all", "--metrics-file", str(metrics))
        assert code == 2, out + err
        assert summary_row(out, "lyon").split()[1:3] == ["1", "yes"]
        assert summary_row(out, "paris").split()[1:3] == ["0", "no"]
        assert summary_row(out, "nice").split()[1:3] == ["0", "no"]
        drifted = {
            (s.labels["pbx"], s.labels["kind"]): s.value
            for family in parse_openmetrics(metrics.read_text("utf-8"))
            if family.name == "wazo_reconcile_drift_changes"
            for s in family.samples
        }
        assert {key for key, value in drifted.items() if value} == {("lyon", "trunks")}
        assert {pbx for pbx, _ in drifted} == set(PBXS)

        code, out, err = reconcile("drift", *fleet, "--pbx", "lyon", "--format", "json")
        assert code == 2 and json.loads(out)["pbx"] == "lyon"

        nice_running.close()  # one PBX goes down
        code, out, err = reconcile("plan", *fleet, "--all", "--format", "json")
        assert code == 1
        document = json.loads(out)
        results = {entry["pbx"]: entry for entry in document["pbxs"]}
        assert results["nice"]["exit_code"] == 1
        assert results["nice"]["result"].startswith("failed: ")
        assert "cannot connect to 127.0.0.1" in results["nice"]["result"]
        assert results["lyon"]["output"]["summary"]["update"] == 1  # still planned
        assert results["paris"]["output"]["pbx"] == "paris"
        assert results["paris"]["exit_code"] == 0
