"""The one helper behind every "did you mean": misspelt names and their closest choices.

`suggestions` ranks the choices by similarity (difflib, case aside): option keys, schema keys,
enum values, and the nearest names of a reference the PBX does not have. With ``typos=True`` it
keeps only the choices a misspelt word is a *typo* of, a stricter test whose answer makes an
undeclared reference an error offline, where it would otherwise be a warning:

- the same name in another case (`Carrier` for `carrier`);
- or one edit away (a letter added, dropped, changed, or two neighbours swapped: `carier`,
  `sipc0`, `from-extrn`), for names of 4 characters or more;
- but never two members of a series, which differ in their digits (`trunk-1`, `trunk-2`,
  `acme`, `acme2`) or in one single-letter part (`pbx-a`, `pbx-b`): both may well exist.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_DIGITS = re.compile(r"[0-9]+")
_PARTS = re.compile(r"[-_.]")
MIN_TYPO_LENGTH = 4


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt word (case aside), if one is close enough."""
    found = suggestions(word, choices)
    return found[0] if found else None


def suggestions(word: str, choices: Iterable[str], *, n: int = 1, typos: bool = False) -> list[str]:
    """Up to ``n`` choices close to ``word``, closest first (see the module's docstring)."""
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(choice.lower(), choice)
    if typos:
        found = [lowered[c] for c in lowered if c != word and is_typo(word, lowered[c])]
        ranked = sorted(found, key=lambda c: -difflib.SequenceMatcher(None, word, c).ratio())
        return ranked[:n]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=n)
    return [lowered[c] for c in close]


def is_typo(word: str, name: str) -> bool:
    """Is ``word`` a misspelling of ``name`` (see the module's docstring)?"""
    a, b = word.lower(), name.lower()
    if a == b:
        return word != name
    if min(len(a), len(b)) < MIN_TYPO_LENGTH or not _one_edit(a, b):
        return False
    return not _series(a, b)


def _one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns ``a`` into ``b``."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    start = 0
    while start < len(a) and a[start] == b[start]:
        start += 1
    if len(a) < len(b):
        return a[start:] == b[start + 1 :]
    rest = start + 1
    if a[rest:] == b[rest:]:
        return True  # one substitution
    return a[start : rest + 1] == b[start : rest + 1][::-1] and a[rest + 1 :] == b[rest + 1 :]


def _series(a: str, b: str) -> bool:
    """Two names of a series: they differ only in digits, or in one single-letter part."""
    if (_DIGITS.search(a) or _DIGITS.search(b)) and _DIGITS.sub("", a) == _DIGITS.sub("", b):
        return True
    parts_a, parts_b = _PARTS.split(a), _PARTS.split(b)
    if len(parts_a) != len(parts_b):
        return False
    differ = [(x, y) for x, y in zip(parts_a, parts_b, strict=True) if x != y]
    return len(differ) == 1 and len(differ[0][0]) == len(differ[0][1]) == 1
