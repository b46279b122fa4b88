"""``reconcile sandbox``: serve the confd emulator on a local port until interrupted."""

from __future__ import annotations

import argparse
import math
import signal
import threading
from typing import Any

from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import Output
from wazo_reconcile.errors import ExitCode, UsageError
from wazo_reconcile.sandbox import COST_PROFILES, PROFILES, FaultConfig, FaultRule, Sandbox
from wazo_reconcile.sandbox.server import SandboxServer, serving

EXAMPLES = """\
The first line printed on stdout is the base URL (http://127.0.0.1:PORT); the confd API is
under /api/confd/1.1, the token endpoint at /api/auth/0.1/token, the tenants (names, slugs)
at /api/auth/0.1/tenants, and wazo-calld's trunk statuses at /api/calld/1.0/trunks
(emulated: a trunk that registers is registered, no call in progress, unless set with POST
/_sandbox/calld). Any non-empty X-Auth-Token is accepted as a master-tenant token unless
--require-auth is given.
Stops cleanly on Ctrl-C or SIGTERM (exit 0).

examples:
  reconcile sandbox --port 9486
  reconcile sandbox --port 0 --seed-profile recordings
  reconcile sandbox --port 9481 --new-tenant-uuids     # one PBX of a fleet (docs/fleet.md)
  reconcile sandbox --require-auth admin:secret --token-lifetime 60
  reconcile sandbox --latency-ms 20 --fault-rate 0.05 --fault-seed 42
  reconcile sandbox --costs confd                    # as slow as a real wazo-confd
  reconcile sandbox --costs confd --cost-scale 0.1   # the same model, ten times faster

  # in a script: start it, read its URL, use it, stop it
  reconcile sandbox --port 0 > sandbox.out & pid=$!
  until [ -s sandbox.out ]; do sleep 0.1; done; url=$(head -n1 sandbox.out)
  WAZO_URL=$url WAZO_TOKEN=anything reconcile plan examples/
  kill $pid

Runtime control (same port): GET /_sandbox/stats, POST /_sandbox/reset,
POST /_sandbox/faults, GET /_sandbox/state, POST /_sandbox/tokens, GET/POST /_sandbox/calld
(see docs/sandbox.md). A trunk down, or a call in progress on it:
  curl -d '{"trunks": {"acme": {"registered": false}}}' "$url/_sandbox/calld"
  curl -d '{"trunks": {"acme": {"current_call_count": 1}}}' "$url/_sandbox/calld"

exit status: 0 stopped (Ctrl-C or SIGTERM), 1 error (the port cannot be bound, bad options).
"""

DESCRIPTION = (
    "Serve the sandbox: a stateful wazo-confd (and wazo-auth token, and wazo-calld trunk status) "
    "emulator."
)


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "sandbox", DESCRIPTION, EXAMPLES)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--seed-profile",
        choices=PROFILES,
        default="fresh",
        help="initial state: a fresh Wazo, or the recordings' start (default: %(default)s)",
    )
    parser.add_argument(
        "--new-tenant-uuids",
        action="store_true",
        help="give the fresh profile's tenants (slugs master, sub) new random UUIDs, as each "
        "real Wazo has its own: several sandboxes then stand for a fleet",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every request, in ms"
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests answered 503 without being processed (0 to 1)",
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault decisions")
    parser.add_argument(
        "--costs",
        choices=("none", *COST_PROFILES),
        default="none",
        help="cost profile: 'confd' serves each request in the time a real wazo-confd takes "
        "(measured), one at a time (default: %(default)s, answer at once)",
    )
    parser.add_argument(
        "--cost-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the cost profile's times by F (0.1: ten times faster; the modelled "
        "time in /_sandbox/stats stays unscaled) (default: %(default)s)",
    )
    parser.add_argument(
        "--require-auth",
        metavar="USER:PASSWORD",
        help="accept only tokens issued by POST /api/auth/0.1/token with these credentials",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=7200.0,
        metavar="S",
        help="lifetime of issued tokens, in seconds (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def _credentials(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise UsageError("--require-auth expects USER:PASSWORD")
    return user, password


def _faults(args: argparse.Namespace) -> FaultConfig:
    if not 0.0 <= args.fault_rate <= 1.0:
        raise UsageError("--fault-rate must be between 0 and 1")
    if args.latency_ms < 0:
        raise UsageError("--latency-ms must not be negative")
    rules = (FaultRule("error", rate=args.fault_rate),) if args.fault_rate else ()
    return FaultConfig(seed=args.fault_seed, latency=args.latency_ms / 1000, rules=rules)


def run(args: argparse.Namespace, output: Output) -> int:
    if not (math.isfinite(args.cost_scale) and args.cost_scale >= 0):
        raise UsageError("--cost-scale must be a number >= 0")
    sandbox = Sandbox(
        args.seed_profile,
        require_auth=_credentials(args.require_auth),
        token_lifetime=args.token_lifetime,
        faults=_faults(args),
        costs=None if args.costs == "none" else args.costs,
        cost_scale=args.cost_scale,
        new_tenant_uuids=args.new_tenant_uuids,
    )
    try:
        server = SandboxServer(sandbox, args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    costs = "none" if args.costs == "none" else f"{args.costs} at scale {args.cost_scale:g}"
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with serving(server):
            output.out(server.base_url + "\n")
            output.err(
                f"sandbox: profile {args.seed_profile}, master tenant {sandbox.master_tenant}, "
                f"costs {costs}; stop with Ctrl-C\n"
            )
            while not stop.wait(0.5):  # a timeout keeps the main thread responsive to signals
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExitCode.OK
