"""URL routing with Flask's converters, and the ACL each route requires.

A path template names its parameters with a converter: ``{trunk_id:int}`` (digits only) or
``{uuid:uuid}`` (a canonical UUID). A URL that no template matches is Flask's HTML 404, before
any authentication; a known URL with another method is a 405.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wazo_reconcile.sandbox.http import Response

if TYPE_CHECKING:
    from wazo_reconcile.sandbox.call import Call

Handler = Callable[["Call"], Response]

_UUID = "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"
_CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "int": (r"\d+", int),
    "uuid": (_UUID, lambda text: str(uuidlib.UUID(text))),
}
_PARAM = re.compile(r"\{(\w+):(\w+)\}")


@dataclass(frozen=True)
class Route:
    """``acl`` is formatted with the converted path parameters (dots become ``_``)."""

    method: str
    template: str
    acl: str
    handler: Handler
    master_only: bool = False
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        pattern = _PARAM.sub(lambda m: f"(?P<{m[1]}>{_CONVERTERS[m[2]][0]})", self.template)
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))

    @property
    def name(self) -> str:
        """The template without converters, as counted in stats: ``/trunks/{trunk_id}``."""
        return _PARAM.sub(lambda m: "{" + m[1] + "}", self.template)

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        converters = dict((m[1], m[2]) for m in _PARAM.finditer(self.template))
        return {
            key: _CONVERTERS[converters[key]][1](value) for key, value in found.groupdict().items()
        }

    def required_acl(self, params: dict[str, Any]) -> str:
        return self.acl.format(**{k: str(v).replace(".", "_") for k, v in params.items()})


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | Response:
        """The route for ``method`` and its parameters, else routing's own answer (404, 405;
        HEAD is served as GET, OPTIONS answered here, as Flask)."""
        wanted = "GET" if method == "HEAD" else method
        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == wanted:
                return route, params
            allowed.add(route.method)
        if not allowed:
            return Response.html_not_found()
        allowed |= {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set())
        header = {"Allow": ", ".join(sorted(allowed))}
        if method == "OPTIONS":
            return Response(200, b"", {"Content-Type": "text/html; charset=utf-8", **header})
        message = {"message": "The method is not allowed for the requested URL."}
        return Response.json(405, message, header)
