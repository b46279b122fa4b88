"""Client CPU per request, four ways, against `reconcile sandbox` on 127.0.0.1 (0 ms);
and the time to make a client, for an http:// and an https:// URL.

    python benchmarks/bench_request_cpu.py            # 1,000 GETs each way
    python benchmarks/bench_request_cpu.py --requests 5000

What bounds `reconcile apply` at 8 requests in flight is the client's CPU per request (one
GIL for the 8 workers): this prints it for our client (`ConfdClient`: retries, auth, JSON)
over its own transport (`wire.StdlibTransport`, http.client underneath) and over httpx's
default transport (httpcore), for plain `httpx.Client` and for the standard library's
`http.client`, the same GET each time. The sandbox runs in its own process, so its CPU is
not counted. Making a client loads no CA bundle; its first https request does (0.1 s).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from installed import compile_package, probe_speed, sandbox_process  # noqa: E402
from wazo_reconcile.confd import connect  # noqa: E402
from wazo_reconcile.settings import ConnectionSettings  # noqa: E402

PATH = "/api/confd/1.1/contexts?limit=1"
TOKEN = "bench-token"


def per_request(send: Callable[[], object], count: int) -> tuple[float, float]:
    """Milliseconds of this process's CPU and of wall time per call (after 50 warm-up calls)."""
    for _ in range(50):
        send()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        send()
    return (
        1000 * (time.process_time() - cpu) / count,
        1000 * (time.perf_counter() - wall) / count,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="GETs per way (1000)")
    args = parser.parse_args()
    compile_package()
    with sandbox_process([sys.executable, "-m", "wazo_reconcile", "sandbox", "--port", "0"]) as url:
        print(f"speed probe {probe_speed():.3f} s; {args.requests} GETs {PATH} each way")

        def confd_client(transport: httpx.BaseTransport | None) -> tuple[float, float]:
            settings = ConnectionSettings(url=url, token=TOKEN)
            with connect(settings, transport=transport) as client:
                return per_request(
                    lambda: client.get("/contexts", params={"limit": "1"}), args.requests
                )

        ours = confd_client(None)  # its own transport, wire.StdlibTransport
        ours_httpcore = confd_client(httpx.HTTPTransport())
        with httpx.Client(base_url=url, headers={"X-Auth-Token": TOKEN}) as plain:
            httpx_ = per_request(lambda: plain.get(PATH).json(), args.requests)
        connection = http.client.HTTPConnection(str(urlsplit(url).netloc))

        def stdlib() -> bytes:
            connection.request("GET", PATH, headers={"X-Auth-Token": TOKEN})
            return connection.getresponse().read()

        stdlib_ = per_request(stdlib, args.requests)
        connection.close()
    for url in ("http://127.0.0.1:9", "https://wazo.example.com"):
        started = time.perf_counter()
        connect(ConnectionSettings(url=url, token=TOKEN)).close()
        print(f"connect() for {url.split(':')[0]}: {time.perf_counter() - started:.3f} s")
    print("| client | CPU per request | wall per request |")
    print("|---|---:|---:|")
    for name, (cpu, wall) in (
        ("ConfdClient (wazo-reconcile)", ours),
        ("ConfdClient over httpx's transport", ours_httpcore),
        ("httpx.Client", httpx_),
        ("http.client", stdlib_),
    ):
        print(f"| {name} | {cpu:.2f} ms | {wall:.2f} ms |")


if __name__ == "__main__":
    main()
