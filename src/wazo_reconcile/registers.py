"""IAX registers: the `register` of an IAX trunk, in one normalised form (pure).

An IAX register is one ``register => user:secret@host:port/extension?context`` line of
iax.conf's ``[general]`` section, which makes Asterisk register to the remote side
(confd's ``/registers/iax``, associated with the trunk). The YAML's `register` mapping,
confd's register items and the request bodies that write them meet here as one `Options`:
the fields that have a value, as strings, sorted. What confd reads back as "no value" is
left out on both sides, so that a plan right after an apply is empty:

- ``null`` and ``""`` (confd reads a password without a username back with username ``""``);
- ``remote_port`` 0 (confd stores it as no port);
- ``enabled`` true (confd's default); false is kept as ``no``.

A declared register is exact: a field it leaves out is cleared on the PBX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from wazo_reconcile.model import REGISTER_FIELDS, Options, options

# The line's separators, which confd refuses in the fields they delimit (its schema's regexes).
FORBIDDEN = {
    "remote_host": ":/? ",
    "auth_username": ":/ ",
    "auth_password": ":/ ",
    "callback_extension": "? ",
}
# Fields that need another one (confd's schema rules, checked on the request body).
NEEDS = {"auth_username": "auth_password", "callback_context": "callback_extension"}
MAX_LINE = 255  # confd refuses a longer line ("The sum of all fields is longer than ...")
_TEXT_FIELDS = tuple(f for f in REGISTER_FIELDS if f not in ("remote_port", "enabled"))


def _pairs(values: Mapping[str, str]) -> Options:
    kept = []
    for key, value in values.items():
        if key not in REGISTER_FIELDS or value == "":
            continue
        if key == "remote_port" and value == "0":
            continue
        if key == "enabled" and value in ("yes", "true", "True"):
            continue
        kept.append((key, "no" if key == "enabled" else value))
    return options(kept)


def live_register(item: Mapping[str, object]) -> Options:
    """A register item of confd's ``/registers/iax``, normalised."""
    values = {key: str(item[key]) for key in REGISTER_FIELDS if item.get(key) is not None}
    if "enabled" in values:
        values["enabled"] = "yes" if item["enabled"] else "no"
    return _pairs(values)


def desired_register(value: object, text: Callable[[object], str]) -> Options:
    """A trunk's `register` as declared (``text`` turns a YAML scalar into confd's text,
    secret references resolved); ``null`` is no register: ``()``."""
    if not isinstance(value, Mapping):
        return ()
    return _pairs({str(k): text(v) for k, v in value.items() if v is not None})


def register_body(pairs: Options) -> dict[str, object]:
    """The confd body of a register: every field, ``null`` where it has no value (a PUT
    clears what the register no longer declares)."""
    values = dict(pairs)
    body: dict[str, object] = {key: values.get(key) for key in _TEXT_FIELDS}
    port = values.get("remote_port")
    body["remote_port"] = int(port) if port is not None else None
    body["enabled"] = values.get("enabled") != "no"
    return body


def register_line(values: Mapping[str, str]) -> str:
    """The iax.conf line confd writes for these values (its length is limited)."""
    user, secret = values.get("auth_username", ""), values.get("auth_password", "")
    line = user + (f":{secret}" if secret else "") + ("@" if user or secret else "")
    line += values.get("remote_host", "")
    for key, mark in (("remote_port", ":"), ("callback_extension", "/"), ("callback_context", "?")):
        if values.get(key) and values.get(key) != "0":
            line += mark + values[key]
    return line


def register_problems(values: Mapping[str, str]) -> list[tuple[str | None, str]]:
    """What confd would refuse in a register: ``(field or None for the whole, message)``.
    Messages never show a value (``auth_password`` is a secret)."""
    found: list[tuple[str | None, str]] = []
    for key, forbidden in FORBIDDEN.items():
        bad = sorted({c for c in values.get(key, "") if c in forbidden})
        if bad:
            shown = ", ".join("a space" if c == " " else f"'{c}'" for c in bad)
            found.append((key, f"must not contain {shown}: the register line uses it"))
    for key, needed in NEEDS.items():
        if values.get(key) and not values.get(needed):
            found.append((key, f"needs '{needed}' (confd refuses '{key}' without it)"))
    length = len(register_line(values))
    if length > MAX_LINE:
        found.append((None, f"the register line would be {length} characters; at most {MAX_LINE}"))
    return found
