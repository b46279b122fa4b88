"""Drift metrics: OpenMetrics text that prometheus_client's parsers read back."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text

from support import client_for, plan
from wazo_reconcile.metrics import DriftSample, drift_metrics, last_successes
from wazo_reconcile.model import KINDS
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.stack import load_stack


def families(text: str) -> dict[str, Metric]:
    parsed = list(openmetrics(text))  # type: ignore[no-untyped-call]
    return {family.name: family for family in parsed}


def test_drift_metrics_one_series_per_pbx_and_kind(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "version: 1\noutcalls:\n  o1: {trunks: []}\n  o2: {trunks: []}\n", encoding="utf-8"
    )
    drifted = plan(load_stack(tmp_path), client_for(Sandbox()))
    samples = [
        DriftSample('we"ird\\pbx', drifted, ok=True),
        DriftSample("down", None, ok=False),
        DriftSample("new", None, ok=False),
    ]
    text = drift_metrics(samples, now=1700000000.5, previous={"down": 1600000000.0})
    assert text.endswith("# EOF\n")
    found = families(text)
    changes = {
        (s.labels["pbx"], s.labels["kind"]): s.value
        for s in found["wazo_reconcile_drift_changes"].samples
    }
    assert changes == {('we"ird\\pbx', kind): (2 if kind == "outcalls" else 0) for kind in KINDS}
    success = {s.labels["pbx"]: s.value for s in found["wazo_reconcile_drift_success"].samples}
    assert success == {'we"ird\\pbx': 1, "down": 0, "new": 0}
    last = found["wazo_reconcile_drift_last_success_timestamp_seconds"]
    assert {s.labels["pbx"]: s.value for s in last.samples} == {
        'we"ird\\pbx': 1700000000.5,
        "down": 1600000000.0,  # carried over from the previous file
    }
    assert last.type == "gauge"
    # The same text is valid Prometheus text format (node_exporter's textfile collector).
    names = {family.name for family in prometheus_text(text)}
    assert "wazo_reconcile_drift_changes" in names
    assert last_successes(text) == {'we"ird\\pbx': 1700000000.5, "down": 1600000000.0}
