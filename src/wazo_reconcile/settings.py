"""Connection settings: command-line flags and ``WAZO_*`` variables (DESIGN.md §2). Pure.

Precedence, per setting: a flag beats its environment variable. Credentials are taken as
one set: if any of ``--token``/``--username``/``--password`` is on the command line, the
``WAZO_TOKEN``/``WAZO_USERNAME``/``WAZO_PASSWORD`` variables are ignored, so a flag can
never be silently combined with a stale variable.

A token or password never appears in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from wazo_reconcile.errors import UsageError

CONFD_PREFIX = "/api/confd/1.1"
AUTH_PREFIX = "/api/auth/0.1"
CALLD_PREFIX = "/api/calld/1.0"  # wazo-calld, beside confd on the same Wazo stack

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 4

ENV_VARS = {
    "url": "WAZO_URL",
    "token": "WAZO_TOKEN",
    "username": "WAZO_USERNAME",
    "password": "WAZO_PASSWORD",
    "tenant": "WAZO_TENANT",
    "ca_bundle": "WAZO_CA_BUNDLE",
}
_CREDENTIALS = ("token", "username", "password")
# Also said by `confd.connect`, given settings made another way (the inventory of a fleet).
NO_URL = "no PBX to talk to: give --url (or set WAZO_URL), or use --sandbox"
NO_CREDENTIALS = (
    "no credentials: set WAZO_TOKEN (or --token), or WAZO_USERNAME and WAZO_PASSWORD "
    "(or --username/--password)"
)


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where the PBX is and how to talk to it.

    ``url`` is the base URL of the Wazo stack (no ``/api/...`` suffix), ``None`` only with
    ``sandbox``. Exactly one of ``token`` or ``username``+``password`` is set, unless
    ``sandbox``. ``timeout`` is the read/write timeout and ``connect_timeout`` the TCP/TLS
    connect timeout, in seconds; ``retries`` is the number of retries after the first attempt.
    """

    url: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tenant: str | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    sandbox: bool = False
    retries: int = DEFAULT_RETRIES

    @property
    def where(self) -> str:
        """The PBX as messages name it: its URL, or the in-process sandbox."""
        return "in-process sandbox" if self.sandbox else str(self.url)

    @property
    def uses_password(self) -> bool:
        return self.token is None and self.username is not None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}: {text!r}")
        return value

    return parse


def add_connection_args(parser: argparse.ArgumentParser, *, verbose: bool = True) -> None:
    """Add the connection flags (and ``-v/--verbose`` unless ``verbose=False``) to ``parser``.

    Defaults are ``None`` so that :func:`settings_from_args` can tell a flag from its absence.
    """
    group = parser.add_argument_group("connection (flags win over WAZO_* variables)")
    group.add_argument(
        "--url", help="base URL of the Wazo stack, e.g. https://wazo.example.com [WAZO_URL]"
    )
    group.add_argument(
        "--token",
        help="an existing wazo-auth token; prefer WAZO_TOKEN, since "
        "command lines are visible to other local users [WAZO_TOKEN]",
    )
    group.add_argument(
        "--username", help="wazo-auth username, to get and renew a token [WAZO_USERNAME]"
    )
    group.add_argument(
        "--password", help="wazo-auth password; prefer WAZO_PASSWORD [WAZO_PASSWORD]"
    )
    group.add_argument(
        "--tenant",
        help="the default tenant: its slug, name or UUID (names are resolved through "
        "wazo-auth); a document's `tenant:` wins [WAZO_TENANT]",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="PEM",
        help="CA certificates to verify the server with [WAZO_CA_BUNDLE]",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="do not verify the TLS certificate (warns; use --ca-bundle instead)",
    )
    for flag, what, default in (
        ("--timeout", "read timeout per request", DEFAULT_TIMEOUT),
        ("--connect-timeout", "connect timeout", DEFAULT_CONNECT_TIMEOUT),
    ):
        group.add_argument(
            flag, type=_positive_float, metavar="SECONDS", help=f"{what} (default {default:g})"
        )
    group.add_argument(
        "--retries",
        type=whole_number(0, 20),
        metavar="N",
        help=f"retries of a failed request (default {DEFAULT_RETRIES})",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=None,
        help="run against an in-process emulator seeded like a fresh Wazo",
    )
    if verbose:
        parser.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            help="more logging on stderr (-v: requests, -vv: debug)",
        )


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> ConnectionSettings:
    """Combine flags and ``environ`` into checked settings; raise ``UsageError`` if unusable."""
    sandbox = bool(getattr(args, "sandbox", None))
    if sandbox and getattr(args, "url", None):
        raise UsageError("--sandbox and --url cannot be used together")
    url = None if sandbox else _normalise_url(_pick(args, environ, "url"))
    if url is None and not sandbox:
        raise UsageError(NO_URL)
    insecure, ca_bundle = _tls(args, environ)
    (token, username, password), ignored = _credentials(args, environ)
    if not sandbox:
        _check_credentials(token, username, password, ignored)
    return ConnectionSettings(
        url=url,
        token=token,
        username=username,
        password=password,
        tenant=check_tenant(_pick(args, environ, "tenant")),
        ca_bundle=ca_bundle,
        insecure=insecure,
        timeout=_attr(args, "timeout", DEFAULT_TIMEOUT),
        connect_timeout=_attr(args, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        sandbox=sandbox,
        retries=int(_attr(args, "retries", DEFAULT_RETRIES)),
    )


def _attr(args: argparse.Namespace, name: str, default: float) -> float:
    value = getattr(args, name, None)
    return default if value is None else value


def _pick(args: argparse.Namespace, environ: Mapping[str, str], name: str) -> str | None:
    value: str | None = getattr(args, name, None) or environ.get(ENV_VARS[name]) or None
    return value


def _tls(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[bool, str | None]:
    insecure = bool(getattr(args, "insecure", None))
    if insecure and getattr(args, "ca_bundle", None):
        raise UsageError("--insecure and --ca-bundle contradict each other; keep --ca-bundle")
    # --insecure (a flag) wins over WAZO_CA_BUNDLE (a variable)
    return insecure, None if insecure else _pick(args, environ, "ca_bundle")


def _credentials(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[list[str | None], list[str]]:
    """The token, username and password, from the flags if any is given, else from the
    variables; and the credential variables set but ignored (flags and variables are never
    mixed)."""
    flags = [getattr(args, name, None) or None for name in _CREDENTIALS]
    variables = [environ.get(ENV_VARS[name]) or None for name in _CREDENTIALS]
    if any(flags):
        return flags, [ENV_VARS[n] for n, v in zip(_CREDENTIALS, variables, strict=True) if v]
    return variables, []


def _check_credentials(
    token: str | None, username: str | None, password: str | None, ignored: list[str]
) -> None:
    if token and (username or password):
        raise UsageError(
            "give either a token (--token / WAZO_TOKEN) or a username and password "
            "(--username/--password / WAZO_USERNAME/WAZO_PASSWORD), not both"
        )
    if token or (username and password):
        return
    if username or password:
        missing = "--password (or WAZO_PASSWORD)" if username else "--username (or WAZO_USERNAME)"
        message = f"incomplete credentials: {missing} is missing"
        if ignored:
            flag = "--password" if username else "--username"
            message += (
                f"; {' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored "
                "because credentials were given as flags: give "
                f"{flag} too, or drop the flags and use the variables alone"
            )
        raise UsageError(message)
    raise UsageError(NO_CREDENTIALS)


def _normalise_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    shown = _without_secrets(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--url must be an http(s) URL such as https://wazo.example.com: {shown!r}"
        )
    if parts.username or parts.password:
        raise UsageError("--url must not contain credentials; use --username/--password or a token")
    if parts.query or parts.fragment:
        raise UsageError(f"--url must not have a query or fragment (not shown): {shown!r}")
    for suffix in (CONFD_PREFIX, AUTH_PREFIX, CALLD_PREFIX):
        if url.endswith(suffix):  # accept a copy-pasted API URL
            url = url[: -len(suffix)]
    return url


def _without_secrets(url: str) -> str:
    """``url`` as it may be shown: no user, password, query or fragment (they may hold a
    token)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(unparsable URL)"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_tenant(tenant: str | None) -> str | None:
    """A tenant as given: a canonical UUID, or a slug or name (resolved later through
    wazo-auth, `wazo_reconcile.tenants`)."""
    if tenant is None:
        return None
    tenant = tenant.strip()
    if not tenant:
        raise UsageError("--tenant / WAZO_TENANT must be a tenant's slug, name or UUID")
    try:
        return str(uuid.UUID(tenant))
    except ValueError:
        return tenant
