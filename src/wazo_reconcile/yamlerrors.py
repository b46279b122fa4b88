"""What a YAML error says: PyYAML's (and libyaml's) errors in the words of a stack, located,
with the fix of the commonest causes (a value that starts with a quote and goes on, a line
indented wrong or with a tab, an unquoted `!`)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from wazo_reconcile.errors import Location, Problem

_ALIAS_NAME = re.compile(r"\*([0-9A-Za-z_-]+)")  # the characters libyaml allows in a name


def yaml_error(exc: yaml.YAMLError, text: str, display: str) -> Problem:
    if isinstance(exc, yaml.composer.ComposerError):
        problem = _composer_problem(exc, text, display)
        if problem is not None:
            return problem
    if isinstance(exc, yaml.MarkedYAMLError):
        return _syntax_problem(exc, text, display)
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = line_col(text[: exc.position])
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"character {shown} is not allowed in YAML ({exc.reason})"
        return problem_at(Location(display, line, col), message)
    return problem_at(Location(display, 1, 1), f"YAML error: {exc}")  # without position


def _composer_problem(exc: yaml.MarkedYAMLError, text: str, display: str) -> Problem | None:
    """What the composer refuses, about anchors and aliases, said in the words of a stack."""
    mark = exc.problem_mark
    if mark is None:
        return None
    if exc.problem == "found undefined alias":
        name = _ALIAS_NAME.match(text, mark.index)
        alias = f" '*{name[1]}'" if name else ""
        return problem_at(mark_location(display, mark), f"undefined alias{alias}")
    if exc.problem == "second occurrence" and exc.context_mark is not None:
        first = exc.context_mark.line + 1
        message = f"anchor defined twice (first at line {first}): give this one another name"
        return problem_at(mark_location(display, mark), message)
    return None


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    location = mark_location(display, mark) if mark else Location(display, 1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    if exc.context and "tag" in exc.context:
        message += "; quote a value that starts with '!', e.g. \"!all,ulaw\""
    elif mark is not None:
        message += _syntax_hint(exc, text.splitlines(), mark.line)
    return problem_at(location, message)


# A value that starts with a quote and goes on after the closing one: `caller_id: "Paris" <+33…>`.
_HALF_QUOTED = re.compile(
    r"""(?P<key>[^\s'"#{},\[\]:][^'"#{},\[\]:]*):\s+"""
    r"""(?P<value>(?P<q>["'])(?:(?!(?P=q)).)*(?P=q)[^,}\]#]*[^\s,}\]#])"""
)
# Longer lines get no quoting hint: the search would take quadratic time on hostile input.
_MAX_HINT_LINE = 500
# What the parser says when a line is indented too much or too little.
_INDENTATION_ERRORS = (
    "did not find expected key",
    "mapping values are not allowed",
    "did not find expected '-' indicator",
    "expected <block end>",
)


def _syntax_hint(exc: yaml.MarkedYAMLError, lines: list[str], line: int) -> str:
    """The fix of the two commonest causes of a syntax error: an unquoted value starting
    with a quote, and a line indented wrong (or with a tab)."""
    for index in (line, line - 1):
        text = lines[index] if 0 <= index < len(lines) else ""
        half = _HALF_QUOTED.search(text) if len(text) <= _MAX_HINT_LINE else None
        if half:
            key = half["key"].strip().removeprefix("- ")
            fixed = f"{key}: {_quoted_whole(half['value'])}"
            return (
                f"; a value that starts with a quote must be quoted whole: write {fixed} "
                f"(line {index + 1})"
            )
    current = lines[line] if line < len(lines) else ""
    if "\t" in current[: len(current) - len(current.lstrip())]:
        return f"; line {line + 1} is indented with a tab: YAML indents with spaces only"
    if str(exc.problem or "").startswith(_INDENTATION_ERRORS):
        return (
            f"; check the indentation of line {line + 1} and the lines above it: the keys "
            "of one mapping, and the '-' of one list, start in the same column"
        )
    return ""


def _quoted_whole(value: str) -> str:
    """``value`` as one YAML scalar (single quotes, inner ones doubled, unless it holds none
    and has double quotes only)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def line_col(before: str) -> tuple[int, int]:
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def mark_location(display: str, mark: Any) -> Location:  # a Mark: PyYAML's or the C parser's
    return Location(display, mark.line + 1, mark.column + 1)


def problem_at(location: Location, message: str, path: str = "$") -> Problem:
    return Problem(location, path, message)
