"""The per-object baseline of `bench_pipeline.py`: a no-op plan done as Terraform-style tools
read, run as its own process as ``reconcile plan`` is.

    python benchmarks/per_object_plan.py URL TOKEN STACK IDS_JSON

Everything ``reconcile plan`` does but its reads: the interpreter's start and the imports, the
stack read and validated offline (`load_checked`, as plan does, every check included), then
every object read with its own ``GET`` (the ids known beforehand, as a state file holds them:
``IDS_JSON`` maps each kind of `OBJECT_KINDS` to its ids), ``PARALLELISM`` at a time over
the same HTTP transport as ``reconcile`` (httpx's own), then the same normalise +
diff + plan (`plan_against`), and the same exit that frees nothing (`cli.console`).

Prints ``{"fetch_seconds": …, "requests": …, "changes": …}`` on stdout; exits 0 when the plan
is empty, 1 when it is not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

API = "/api/confd/1.1"
PARALLELISM = 10  # Terraform's default

# (LiveState attribute, list path, extra list params, id field)
OBJECT_KINDS: tuple[tuple[str, str, dict[str, str], str], ...] = (
    ("sip_templates", "/endpoints/sip/templates", {}, "uuid"),
    ("endpoints_sip", "/endpoints/sip", {}, "uuid"),
    ("trunks", "/trunks", {}, "id"),
    ("outcalls", "/outcalls", {}, "id"),
    ("extensions", "/extensions", {"type": "outcall"}, "id"),
    ("users", "/users", {}, "uuid"),
)

# The reads that are one object whatever the size: the token's tenant, the visible tenants,
# transports, contexts, PJSIP global/system/doc.
SINGLES = {
    "token_tenant": "/tenants",
    "tenants": "/tenants?recurse=true",
    "transports": "/sip/transports",
    "contexts": "/contexts?recurse=true",
    "pjsip_global": "/asterisk/pjsip/global",
    "pjsip_system": "/asterisk/pjsip/system",
    "pjsip_doc": "/asterisk/pjsip/doc",
}


def parallel(jobs: Iterable[Callable[[], Any]], workers: int = PARALLELISM) -> list[Any]:
    """Run ``jobs`` ``workers`` at a time; their results in order (the first error raised)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


def per_object_plan(url: str, token: str, stack_path: str, ids: dict[str, list[Any]]) -> int:
    import httpx

    from wazo_reconcile.commands.common import Output, load_checked
    from wazo_reconcile.engine import plan_against
    from wazo_reconcile.live import LiveState
    from wazo_reconcile.secrets import SecretResolver

    resolver = SecretResolver(os.environ)
    stack = load_checked(stack_path, Output(), resolver, strict=False)
    started = time.perf_counter()
    jobs = list(SINGLES.items())
    for name, path, _params, _key in OBJECT_KINDS:
        jobs += [(name, f"{path}/{value}") for value in ids[name]]
    # at most PARALLELISM connections: one per thread of `parallel`
    with httpx.Client(base_url=url, headers={"X-Auth-Token": token}, timeout=120) as http:

        def get(path: str) -> Any:
            answer = http.get(API + path)
            answer.raise_for_status()
            return answer.json()

        answers = parallel([partial(get, path) for _name, path in jobs])
    fetched = time.perf_counter() - started
    found: dict[str, list[Any]] = {}
    for (name, _path), answer in zip(jobs, answers, strict=True):
        found.setdefault(name, []).append(answer)
    live = LiveState(
        token_tenant=found["token_tenant"][0]["items"][0]["uuid"],
        tenants={t["uuid"]: t for t in found["tenants"][0]["items"]},
        transports=tuple(found["transports"][0]["items"]),
        contexts=tuple(found["contexts"][0]["items"]),
        pjsip_global={str(k): str(v) for k, v in found["pjsip_global"][0]["options"].items()},
        pjsip_system={str(k): str(v) for k, v in found["pjsip_system"][0]["options"].items()},
        pjsip_doc=found["pjsip_doc"][0],
        **{name: tuple(found.get(name, ())) for name, *_rest in OBJECT_KINDS},
    )
    planned = plan_against(stack, live, resolver=resolver)
    changes = len(planned.plan.changes)
    print(json.dumps({"fetch_seconds": fetched, "requests": len(jobs), "changes": changes}))
    return 0 if planned.plan.is_empty else 1


def main() -> None:
    url, token, stack_path, ids_path = sys.argv[1:5]
    ids = json.loads(Path(ids_path).read_text())
    code = per_object_plan(url, token, stack_path, ids)
    sys.stdout.flush()
    os._exit(code)  # as `reconcile` ends (cli.console): what was built is not freed


if __name__ == "__main__":
    main()
