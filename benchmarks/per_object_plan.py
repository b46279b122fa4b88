"""The per-object baseline of `bench_pipeline.py`: a no-op plan that reads every object with
its own ``GET``, as Terraform-style tools do, run as its own process as ``reconcile plan`` is.

    python benchmarks/per_object_plan.py URL TOKEN STACK IDS_JSON

The ids are known beforehand, as a state file holds them (``IDS_JSON`` maps each kind of
`OBJECT_KINDS` to its ids); the GETs go ``PARALLELISM`` at a time; then the stack is validated
and diffed as ``reconcile plan`` does. Prints ``{"requests": …, "changes": …}`` on stdout;
exits 0 when the plan is empty, 1 when it is not.

wazo_reconcile's internals are used in `plan_from` only: a rename there is a one-line fix.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

API = "/api/confd/1.1"
PARALLELISM = 10  # Terraform's default

# (LiveState attribute, collection path, id field)
OBJECT_KINDS: tuple[tuple[str, str, str], ...] = (
    ("sip_templates", "/endpoints/sip/templates", "uuid"),
    ("endpoints_sip", "/endpoints/sip", "uuid"),
    ("trunks", "/trunks", "id"),
    ("outcalls", "/outcalls", "id"),
    ("extensions", "/extensions", "id"),
    ("users", "/users", "uuid"),
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


def fetch(url: str, token: str, ids: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Every single read and every object by id: the answers per kind."""
    jobs = list(SINGLES.items())
    for name, path, _key in OBJECT_KINDS:
        jobs += [(name, f"{path}/{value}") for value in ids[name]]
    limits = httpx.Limits(max_connections=PARALLELISM)
    with httpx.Client(
        base_url=url, headers={"X-Auth-Token": token}, timeout=600, limits=limits
    ) as http:

        def get(path: str) -> Callable[[], Any]:
            def job() -> Any:
                answer = http.get(API + path)
                answer.raise_for_status()
                return answer.json()

            return job

        answers = parallel(get(path) for _name, path in jobs)
    found: dict[str, list[Any]] = {name: [] for name, _path, _key in OBJECT_KINDS}
    for (name, _path), answer in zip(jobs, answers, strict=True):
        found.setdefault(name, []).append(answer)
    return found


def plan_from(stack_path: str, found: dict[str, list[Any]]) -> int:
    """The stack validated and diffed against ``found`` as ``reconcile plan`` does: the
    number of changes. The only use of wazo_reconcile's internals."""
    from wazo_reconcile.commands.common import Output, load_checked
    from wazo_reconcile.live import LiveState
    from wazo_reconcile.pipeline import compare
    from wazo_reconcile.secrets import SecretResolver

    resolver = SecretResolver(os.environ)
    stack = load_checked(stack_path, Output(), resolver, strict=False)
    live = LiveState(
        token_tenant=found["token_tenant"][0]["items"][0]["uuid"],
        tenants={t["uuid"]: t for t in found["tenants"][0]["items"]},
        transports=tuple(found["transports"][0]["items"]),
        contexts=tuple(found["contexts"][0]["items"]),
        pjsip_global={str(k): str(v) for k, v in found["pjsip_global"][0]["options"].items()},
        pjsip_system={str(k): str(v) for k, v in found["pjsip_system"][0]["options"].items()},
        pjsip_doc=found["pjsip_doc"][0],
        **{name: tuple(found[name]) for name, _path, _key in OBJECT_KINDS},
    )
    return len(compare(stack, live, resolver=resolver).changes)


def main() -> None:
    url, token, stack_path, ids_path = sys.argv[1:5]
    ids = json.loads(Path(ids_path).read_text())
    found = fetch(url, token, ids)
    changes = plan_from(stack_path, found)
    requests = sum(len(answers) for answers in found.values())
    print(json.dumps({"requests": requests, "changes": changes}), flush=True)
    os._exit(0 if changes == 0 else 1)  # as `reconcile` ends: what was built is not freed


if __name__ == "__main__":
    main()
