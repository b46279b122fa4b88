"""The inventory (its schema, loading, selection, targets), variables and the `fleet` command."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import pytest

from wazo_reconcile.cli import main
from wazo_reconcile.commands.runs import inventory_target, most_severe, pbx_settings
from wazo_reconcile.errors import ConfigError, ExitCode, UsageError
from wazo_reconcile.inventory import Pbx, load_inventory, read_variables, single_selection
from wazo_reconcile.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent

INVENTORY = """\
version: 1
defaults:
  stacks: [shared]
  credentials: {token_env: "{PBX}_WAZO_TOKEN"}
  variables: {region: eu}
pbxs:
  paris:
    url: https://paris.example.com
    stacks: [pbx/paris]
    variables: {public_ip: 203.0.113.10, port: 060, nat: yes}
    tenant: master
    labels: {env: production}
  lyon-2:
    url: https://lyon.example.com
    variables: {region: fr}
    credentials: {username_env: LYON_USER, password_env: LYON_PASSWORD}
    labels: {env: staging}
"""


def fleet_repo(tmp_path: Path, inventory: str = INVENTORY) -> Path:
    (tmp_path / "shared").mkdir(parents=True)
    (tmp_path / "pbx" / "paris").mkdir(parents=True)
    (tmp_path / "shared" / "transport.yaml").write_text(
        "version: 1\ntransports:\n  transport-udp:\n"
        "    external_signaling_address: ${var:public_ip}\n",
        encoding="utf-8",
    )
    (tmp_path / "pbx" / "paris" / "trunks.yaml").write_text(
        "version: 1\ntrunks:\n  acme:\n    context: from-extern\n"
        "    outbound_auth: {username: u, password: '${env:ACME_PASSWORD}'}\n",
        encoding="utf-8",
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory, encoding="utf-8")
    return path


def test_inventory_schema_copies_are_identical() -> None:
    packaged = resources.files("wazo_reconcile").joinpath("schemas/inventory.schema.json")
    assert (ROOT / "schemas" / "inventory.schema.json").read_text() == packaged.read_text()
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(load_schema("inventory"))


def test_load_inventory_merges_defaults(tmp_path: Path) -> None:
    inventory = load_inventory(fleet_repo(tmp_path))
    paris, lyon = inventory.pbxs
    assert inventory.names == ["paris", "lyon-2"]
    assert paris.stacks == (str(tmp_path / "shared"), str(tmp_path / "pbx" / "paris"))
    assert dict(paris.variables) == {
        "region": "eu",
        "public_ip": "203.0.113.10",
        "port": "060",  # as written
        "nat": "yes",
    }
    assert paris.credentials.names == ("PARIS_WAZO_TOKEN",)
    assert paris.tenant == "master" and paris.tenant_at is not None
    assert paris.tenant_at.line == 11
    assert lyon.stacks == (str(tmp_path / "shared"),)
    assert lyon.variables["region"] == "fr"
    assert lyon.credentials.names == ("LYON_USER", "LYON_PASSWORD")


def test_inventory_problems_are_located_all_at_once(tmp_path: Path) -> None:
    path = fleet_repo(
        tmp_path,
        "version: 1\npbxs:\n  paris:\n    url: paris.example.com\n    stackz: [x]\n"
        "    variables: {bad-name: 1}\n  lyon:\n    url: https://l\n    stacks: [missing]\n"
        "  'a b': {url: https://x, stacks: [shared]}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    shown = [str(p).removeprefix(str(path) + ":") for p in info.value.problems]
    assert "4:10: pbxs.paris.url: must be an http(s) URL such as https://wazo.example.com" in shown
    assert any(s.startswith("5:5: pbxs.paris.stackz: unknown key 'stackz'") for s in shown)
    assert any(s.startswith("6:17: pbxs.paris.variables.bad-name: a variable name") for s in shown)
    assert any(s.startswith("10:3: pbxs.a b: a PBX name holds letters") for s in shown)
    with pytest.raises(ConfigError) as missing:
        load_inventory(fleet_repo(tmp_path / "x", INVENTORY.replace("[pbx/paris]", "[nope]")))
    assert "pbxs.paris.stacks[0]: " in str(missing.value)


def test_select(tmp_path: Path) -> None:
    inventory = load_inventory(fleet_repo(tmp_path))

    def names(found: list[Pbx]) -> list[str]:
        return [p.name for p in found]

    assert names(inventory.select([], everything=True)) == ["paris", "lyon-2"]
    assert names(inventory.select(["l*"], everything=False)) == ["lyon-2"]
    assert names(inventory.select([], everything=True, selectors=["env=production"])) == ["paris"]
    with pytest.raises(UsageError, match=r"no such PBX .* \(PBXs: paris, lyon-2\)"):
        inventory.select(["nice"], everything=False)
    with pytest.raises(UsageError, match="expected LABEL=VALUE"):
        inventory.select([], everything=True, selectors=["env"])
    assert single_selection(["paris"], everything=False, selectors=[])
    assert not single_selection(["par*"], everything=False, selectors=[])
    assert not single_selection(["paris", "lyon"], everything=False, selectors=[])


def test_changed_files_select_pbxs(tmp_path: Path) -> None:
    path = fleet_repo(tmp_path)
    inventory = load_inventory(path)
    every = list(inventory.pbxs)
    paris_only = inventory.changed(every, [str(tmp_path / "pbx" / "paris" / "trunks.yaml")])
    assert [p.name for p in paris_only] == ["paris"]
    assert inventory.changed(every, [str(tmp_path / "shared" / "transport.yaml")]) == every
    assert inventory.changed(every, [str(path)]) == every
    assert inventory.changed(every, ["README.md"]) == []


def _args(**values: object) -> argparse.Namespace:
    defaults = {
        "url": None,
        "token": None,
        "username": None,
        "password": None,
        "sandbox": None,
        "tenant": None,
        "ca_bundle": None,
        "insecure": None,
        "vars": None,
    }
    return argparse.Namespace(**{**defaults, **values})


def test_pbx_settings_take_credentials_from_the_named_variables(tmp_path: Path) -> None:
    paris, lyon = load_inventory(fleet_repo(tmp_path)).pbxs
    settings = pbx_settings(paris, _args(), {"PARIS_WAZO_TOKEN": "tok", "WAZO_TOKEN": "other"})
    assert (settings.url, settings.token, settings.tenant) == (
        "https://paris.example.com",
        "tok",
        "master",
    )
    assert pbx_settings(paris, _args(tenant="sub"), {"PARIS_WAZO_TOKEN": "t"}).tenant == "sub"
    environ = {"LYON_USER": "u", "LYON_PASSWORD": "p", "WAZO_TENANT": "sub"}
    lyon_settings = pbx_settings(lyon, _args(), environ)
    assert (lyon_settings.username, lyon_settings.password, lyon_settings.tenant) == (
        "u",
        "p",
        "sub",
    )
    with pytest.raises(UsageError, match=r"no credentials for PBX paris: set PARIS_WAZO_TOKEN \("):
        pbx_settings(paris, _args(), {"WAZO_TOKEN": "not this one"})
    with pytest.raises(UsageError, match="--url cannot be used with an inventory"):
        pbx_settings(paris, _args(url="https://x"), {"PARIS_WAZO_TOKEN": "t"})
    target = inventory_target(paris, _args(), {}, connect=False)
    assert target.settings is None and target.pbx == "paris"
    assert target.tenant_at == paris.tenant_at
    assert inventory_target(paris, _args(tenant="x"), {}, connect=False).tenant_at is None


def test_variables_file(tmp_path: Path) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text("public_ip: 198.51.100.1\nport: 5060\nflag: no\n", encoding="utf-8")
    assert read_variables(path) == {"public_ip": "198.51.100.1", "port": "5060", "flag": "no"}
    path.write_text("1bad: x\nok: [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_variables(path)
    assert [p.location.line for p in info.value.problems] == [1, 2]


def test_most_severe() -> None:
    assert most_severe([]) == 0
    assert most_severe([0, 2, 0]) == 2
    assert most_severe([2, 3, 1]) == 1
    assert most_severe([1, 4]) == ExitCode.PARTIAL
    assert most_severe([4, 130]) == 130


# ------------------------------------------------------------------- the fleet command


def test_fleet_matrix_list_and_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fleet_repo(tmp_path)
    assert main(["fleet", "matrix"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pbx": ["paris", "lyon-2"]}
    assert main(["fleet", "matrix", "--format", "gitlab", "--select", "env=staging"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"PBX": ["lyon-2"]}]
    assert main(["fleet", "matrix", "--changed", "pbx/paris/trunks.yaml", "docs/x.md"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pbx": ["paris"]}
    assert main(["fleet", "matrix", "--changed"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pbx": []}
    assert main(["fleet", "env", "--pbx", "paris"]) == 0
    assert capsys.readouterr().out.split() == ["ACME_PASSWORD", "PARIS_WAZO_TOKEN"]
    assert main(["fleet", "list"]) == 0
    out = capsys.readouterr().out
    assert "paris" in out and "https://lyon.example.com" in out and "env=staging" in out
    assert main(["fleet", "list", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["pbxs"][0]["credentials"] == ["PARIS_WAZO_TOKEN"]


def test_validate_all_checks_every_pbx_with_its_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fleet_repo(tmp_path)
    monkeypatch.setenv("ACME_PASSWORD", "acme-Secret-1")
    assert main(["validate", "--all"]) == 1  # lyon-2 has no public_ip
    out, err = capsys.readouterr()
    assert "=== paris ===" in out and "=== lyon-2 ===" in out
    assert "paris: " in out and "0 errors" in out
    assert (
        "shared/transport.yaml:4:33: transports.transport-udp.external_signaling_address: "
        "${var:public_ip}: variable public_ip is not defined (defined: region)"
    ) in err
    assert "lyon-2  -        -      invalid: 1 error" in out
    assert main(["validate", "--pbx", "paris", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pbx"] == "paris" and document["valid"] is True


def test_validate_vars_file_without_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo(tmp_path)
    stack = str(tmp_path / "shared")
    assert main(["validate", stack]) == 1
    assert "no variables are given" in capsys.readouterr().err
    variables = tmp_path / "vars.yaml"
    variables.write_text("public_ip: 203.0.113.7\n", encoding="utf-8")
    assert main(["validate", "--vars", str(variables), stack]) == 0


def test_inventory_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fleet_repo(tmp_path)
    assert main(["plan", "--all", "shared"]) == 1
    assert "not both" in capsys.readouterr().err
    assert main(["plan", "--inventory", "inventory.yaml", "shared"]) == 1
    assert "--inventory needs --pbx NAME or --all" in capsys.readouterr().err
    assert main(["plan", "--pbx", "paris", "--url", "https://x", "--token", "t"]) == 1
    assert "--url cannot be used with an inventory" in capsys.readouterr().err
    assert main(["plan", "--pbx", "nowhere"]) == 1
    assert "no such PBX" in capsys.readouterr().err
    assert main(["plan"]) == 1
    assert "give the stack PATH" in capsys.readouterr().err
