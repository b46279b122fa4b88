#!/usr/bin/env python3
"""The GitLab API steps of the wazo-reconcile pipeline (standard library only).

Copy next to .gitlab-ci.yml as ci/reconcile_gitlab.py. Three commands:

  mr-note      post the markdown plan on the merge request, or edit the note posted before
               (found by a hidden marker: one note per stack, updated in place)
  fetch-plan   on the default branch, download the saved plan of the merge request that was
               just merged (the artifact of its "plan: [PBX]" job, in the merge request's
               pipeline or in the child pipeline it triggered)
  drift-issue  open or update the issue "Drift on stacks/STACK" (exit code 2 of `reconcile
               drift`), or close it when the stack is in sync again (exit code 0)

Environment: CI_API_V4_URL, CI_PROJECT_ID, CI_COMMIT_SHA, CI_MERGE_REQUEST_IID (in a child
pipeline: PARENT_MR_IID, which the trigger job passes down) and CI_PIPELINE_URL are set by
GitLab; RECONCILE_GITLAB_TOKEN is a project access token with the
`api` scope (Developer role), stored as a masked CI/CD variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

DRIFT_LABEL = "wazo-drift"
MAX_NOTE = 60_000  # a note holds at most 1,000,000 characters; keep merge requests readable


class Api:
    """A few calls of the GitLab REST API (v4) for one project."""

    def __init__(self, base: str, project: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.project = urllib.parse.quote(project, safe="")
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        raw: bool = False,
    ) -> tuple[Any, Mapping[str, str]]:
        url = f"{self.base}/projects/{self.project}/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("PRIVATE-TOKEN", self.token)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                content = response.read()
                headers = dict(response.headers)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            raise SystemExit(f"error: {method} {path}: HTTP {exc.code}: {detail}") from None
        if raw:
            return content, headers
        return (json.loads(content) if content else None), headers

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)[0]

    def pages(self, path: str, **params: Any) -> Iterator[Any]:
        page: str | None = "1"
        while page:
            items, headers = self.request(
                "GET", path, params={**params, "per_page": 100, "page": page}
            )
            yield from items
            page = headers.get("X-Next-Page") or None

    def post(self, path: str, data: Mapping[str, Any]) -> Any:
        return self.request("POST", path, data=data)[0]

    def put(self, path: str, data: Mapping[str, Any]) -> Any:
        return self.request("PUT", path, data=data)[0]

    def download(self, path: str) -> bytes:
        content: bytes = self.request("GET", path, raw=True)[0]
        return content


# ----------------------------------------------------------------------------- mr-note


def marker(stack: str) -> str:
    return f"<!-- wazo-reconcile plan: {stack} -->"


def note_body(stack: str, plan: str, *, commit: str) -> str:
    if len(plan) > MAX_NOTE:
        plan = plan[:MAX_NOTE] + "\n\n_(truncated: the whole plan is in the job's artifacts)_\n"
    return f"{marker(stack)}\nStack `stacks/{stack}` at {commit[:8]}:\n\n{plan}"


def upsert_note(api: Any, iid: str, stack: str, body: str) -> str:
    """Edit the note that starts with the stack's marker, or post one; say which."""
    notes = f"merge_requests/{iid}/notes"
    for note in api.pages(notes, sort="asc"):
        if str(note.get("body", "")).startswith(marker(stack)):
            api.put(f"{notes}/{note['id']}", {"body": body})
            return f"updated note {note['id']}"
    created = api.post(notes, {"body": body})
    return f"posted note {created['id']}"


# -------------------------------------------------------------------------- fetch-plan


def merged_request(api: Any, sha: str) -> dict[str, Any] | None:
    requests = api.get(f"repository/commits/{sha}/merge_requests")
    merged = [mr for mr in requests if mr.get("state") == "merged"]
    return merged[0] if merged else None


def plan_job(api: Any, mr: Mapping[str, Any], job_name: str) -> dict[str, Any] | None:
    """The plan job of the merge request's newest pipeline that ran it.

    Any plan will do: `reconcile apply --plan` re-plans from the merged stack and refuses a plan
    that no longer matches it or the PBX.
    """
    for pipeline in api.pages(f"merge_requests/{mr['iid']}/pipelines"):  # newest first
        # the plan jobs run in the merge request's pipeline, or in the child pipeline it
        # triggered from the inventory's matrix
        ids = [pipeline["id"]]
        for bridge in api.pages(f"pipelines/{pipeline['id']}/bridges"):
            downstream = bridge.get("downstream_pipeline") or {}
            if downstream.get("id"):
                ids.append(downstream["id"])
        scope = {"scope[]": ["success", "failed"]}  # a plan refused (exit 3) fails its job
        for pipeline_id in ids:
            for job in api.pages(f"pipelines/{pipeline_id}/jobs", **scope):
                if job.get("name") == job_name and job.get("artifacts_file"):
                    return dict(job)
    return None


def fetch_plan(api: Any, sha: str, job_name: str) -> tuple[bytes, str]:
    mr = merged_request(api, sha)
    if mr is None:
        raise SystemExit(f"error: {sha} was not merged from a merge request: no reviewed plan")
    job = plan_job(api, mr, job_name)
    if job is None:
        raise SystemExit(
            f"error: no '{job_name}' job with artifacts in the pipelines of !{mr['iid']}"
        )
    content = api.download(f"jobs/{job['id']}/artifacts/plan.json")
    return content, f"the plan of !{mr['iid']}, job {job['id']}"


# ------------------------------------------------------------------------- drift-issue


def drift_issue(api: Any, stack: str, exit_code: int, report: str, *, run_url: str) -> str:
    title = f"Drift on stacks/{stack}"
    found = [
        issue
        for issue in api.pages(
            "issues", state="opened", labels=DRIFT_LABEL, search=title, **{"in": "title"}
        )
        if issue.get("title") == title
    ]
    if exit_code == 2:
        body = (
            f"`reconcile drift stacks/{stack}` found changes made outside Git ([pipeline]"
            f"({run_url})). Either put them in the stack (a merge request) or undo them "
            f"(apply the stack).\n\n{report[:MAX_NOTE]}"
        )
        if found:
            api.put(f"issues/{found[0]['iid']}", {"description": body})
            return f"updated issue #{found[0]['iid']}"
        created = api.post("issues", {"title": title, "labels": DRIFT_LABEL, "description": body})
        return f"opened issue #{created['iid']}"
    if exit_code == 0 and found:
        iid = found[0]["iid"]
        api.post(f"issues/{iid}/notes", {"body": f"In sync again ([pipeline]({run_url}))."})
        api.put(f"issues/{iid}", {"state_event": "close"})
        return f"closed issue #{iid}"
    return "nothing to do"


# --------------------------------------------------------------------------------- cli


def _api(environ: Mapping[str, str]) -> Api:
    missing = [
        name
        for name in ("CI_API_V4_URL", "CI_PROJECT_ID", "RECONCILE_GITLAB_TOKEN")
        if not environ.get(name)
    ]
    if missing:
        raise SystemExit(f"error: set {', '.join(missing)}")
    return Api(
        environ["CI_API_V4_URL"], environ["CI_PROJECT_ID"], environ["RECONCILE_GITLAB_TOKEN"]
    )


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as stream:
        return stream.read()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    note = commands.add_parser("mr-note", help="post or update the plan note")
    note.add_argument("--stack", required=True)
    note.add_argument("--body-file", required=True)
    fetch = commands.add_parser("fetch-plan", help="download the merged request's saved plan")
    fetch.add_argument("--job", required=True, help='the plan job, e.g. "plan: [paris]"')
    fetch.add_argument("--output", required=True)
    issue = commands.add_parser("drift-issue", help="open, update or close the drift issue")
    issue.add_argument("--stack", required=True)
    issue.add_argument("--exit-code", type=int, required=True)
    issue.add_argument("--body-file", required=True)
    args = parser.parse_args(argv)
    api = _api(environ)
    if args.command == "mr-note":
        body = note_body(args.stack, _read(args.body_file), commit=environ.get("CI_COMMIT_SHA", ""))
        iid = environ.get("CI_MERGE_REQUEST_IID") or environ["PARENT_MR_IID"]
        print(upsert_note(api, iid, args.stack, body))
    elif args.command == "fetch-plan":
        content, source = fetch_plan(api, environ["CI_COMMIT_SHA"], args.job)
        with open(args.output, "wb") as stream:
            stream.write(content)
        print(f"downloaded {source} to {args.output}")
    else:
        report = _read(args.body_file)
        run_url = environ.get("CI_PIPELINE_URL", "")
        print(drift_issue(api, args.stack, args.exit_code, report, run_url=run_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
