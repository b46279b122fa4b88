"""Generate a big, valid stack for benchmarks: N SIP trunks, N/10 outcalls, N/5 users.

    python benchmarks/gen_stack.py 5000 /tmp/bench-stack

Every trunk has the body of a provider trunk as COSTS.md prices it: options in all seven SIP
sections (aor 3, auth 3, endpoint 8 counting its one header, identify 2, registration 4,
registration_outbound_auth 2, outbound_auth 2: R = 2,304 joined rows per listed endpoint);
trunks share templates (`bench-base` inherits the tenant's
`global`; `bench-carrier-<k>` inherit `bench-base`), names are unique, passwords come from a
`${file:bench-password}` reference, and the users are `bench-user-<i>@example.com` (a
benchmark against the sandbox creates them first). The stack validates with no problem.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TRUNKS_PER_FILE = 500
CARRIERS = 10
HEADER = "# yaml-language-server: $schema=../../schemas/stack.schema.json\nversion: 1\n"


def generate_stack(n: int, outdir: Path) -> Path:
    """Write the stack into ``outdir`` (created if needed) and return it."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "bench-password").write_text("bench-Secret-2718\n", encoding="utf-8")
    (outdir / "00-templates.yaml").write_text(_templates(), encoding="utf-8")
    for start in range(0, n, TRUNKS_PER_FILE):
        stop = min(n, start + TRUNKS_PER_FILE)
        path = outdir / f"10-trunks-{start // TRUNKS_PER_FILE:03d}.yaml"
        path.write_text(_trunks(start, stop), encoding="utf-8")
    (outdir / "20-outcalls.yaml").write_text(_outcalls(n), encoding="utf-8")
    (outdir / "30-users.yaml").write_text(_users(n // 5), encoding="utf-8")
    return outdir


def trunk_name(i: int) -> str:
    return f"bench-trunk-{i:05d}"


def user_email(i: int) -> str:
    return f"bench-user-{i}@example.com"


def user_body(i: int) -> dict[str, str]:
    """The `POST /users` body of the stack's i-th user (users are not created by apply)."""
    return {"firstname": f"Bench {i}", "username": f"bench-user-{i}", "email": user_email(i)}


def _templates() -> str:
    lines = [
        HEADER,
        "sip_templates:",
        "  bench-base:",
        "    label: Benchmark base",
        "    templates: [global]",
        "    aor: {qualify_frequency: 60, max_contacts: 1}",
        '    endpoint: {allow: "!all,alaw,ulaw", rtp_symmetric: yes, rewrite_contact: yes}',
    ]
    for k in range(CARRIERS):
        lines += [
            f"  bench-carrier-{k}:",
            f"    label: Benchmark carrier {k}",
            "    templates: [bench-base]",
            f"    endpoint: {{dtmf_mode: rfc4733, language: fr_FR, from_user: carrier{k}}}",
        ]
    return "\n".join(lines) + "\n"


def _trunks(start: int, stop: int) -> str:
    out = [HEADER, "trunks:\n"]
    for i in range(start, stop):
        host = f"sip{i}.carrier{i % CARRIERS}.example"
        out.append(
            f"""  {trunk_name(i)}:
    label: Benchmark trunk {i}
    context: from-extern
    outgoing_caller_id_format: +E164
    templates: [bench-carrier-{i % CARRIERS}]
    aor:
      contact: sip:{host}:5060
      qualify_frequency: 060
      max_contacts: 1
    auth:
      username: in-{i}
      password: ${{file:bench-password}}
      realm: {host}
    endpoint:
      from_domain: {host}
      direct_media: no
      dtmf_mode: rfc4733
      rtp_symmetric: yes
      rewrite_contact: yes
      set_var: [BENCH_TRUNK={i}, BENCH_CARRIER={i % CARRIERS}]
    identify:
      match: [198.51.{i // 250 % 256}.{i % 250}, 203.0.{i // 250 % 256}.{i % 250}]
    registration:
      client_uri: sip:u{i}@{host}
      server_uri: sip:{host}
      expiration: 120
      retry_interval: 30
    registration_outbound_auth:
      username: u{i}
      password: ${{file:bench-password}}
    outbound_auth:
      username: u{i}
      password: ${{file:bench-password}}
    headers:
      X-Bench-Account: "{i}"
"""
        )
        if i % 10 == 0:
            out.append(f'    match_header: "X-Bench-Dest: t{i}"\n')
    return "".join(out)


def _outcalls(n: int) -> str:
    out = [HEADER, "outcalls:\n"]
    for i in range(n // 10):
        trunks = ", ".join(trunk_name((i * 10 + k) % n) for k in range(3))
        out.append(
            f"""  bench-outcall-{i:04d}:
    description: Benchmark route {i}
    ring_time: 30
    trunks: [{trunks}]
    patterns:
"""
        )
        for j in range(3):
            out.append(
                f"""      - exten: _9{i:04d}{j}XXXX
        strip_digits: 1
        external_prefix: "+33"
        caller_id: '"Bench {i}" <+3355{i:04d}{j}>'
"""
            )
    return "".join(out)


def _users(count: int) -> str:
    out = [HEADER, "users:\n"]
    for i in range(count):
        out.append(f"""  {user_email(i)}: {{outgoing_caller_id: '"Bench {i}" <+3366{i:05d}>'}}\n""")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of SIP trunks")
    parser.add_argument("outdir", type=Path, help="directory to write the stack into")
    args = parser.parse_args()
    generate_stack(args.n, args.outdir)
    print(args.outdir)


if __name__ == "__main__":
    main()
