"""References: every ``${env:…}``/``${file:…}``/``${var:…}`` resolves, no malformed reference hides
in any value, and no secret is written in the YAML (it would be in Git).

Secret values are named by their reference, never shown: the values met go into
``ctx.secrets``, which the CLI masks in every output. Variables are not secrets, unless a secret
key holds them; they come from the repository, so they are checked even when secrets are not
resolved.
"""

from __future__ import annotations

from collections.abc import Iterator

from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import ERROR, WARNING, DocumentContext
from wazo_reconcile.secrets import (
    MIN_SCRUB_LENGTH,
    SecretError,
    StringPath,
    find_refs,
    malformed_refs,
    scan_strings,
    syntax_error,
)
from wazo_reconcile.stack import Document, format_path


def check_secret_references(ctx: DocumentContext) -> Iterator[Problem]:
    """References must be well formed and resolve; secrets belong outside the YAML."""
    document = ctx.document
    suspects: list[tuple[StringPath, str]] = []
    for found in scan_strings(document.data, suspects):
        malformed = list(_malformed(document, found.path, found.text))
        yield from malformed
        if found.refs:
            yield from _refs(ctx, found.path, found.text, slot=found.slot)
        elif not malformed:
            ctx.secrets.append(found.text)
            yield from _literal_secret(document, found.path, found.text)
    for path, text in suspects:
        yield from _malformed(document, path, text)


def _malformed(document: Document, path: StringPath, text: str) -> Iterator[Problem]:
    for found in malformed_refs(text):
        yield _at(document, path, found.message)


def _refs(ctx: DocumentContext, path: StringPath, text: str, *, slot: bool) -> Iterator[Problem]:
    """``slot``: the text is the value of a secret key, so every value it gets is a secret."""
    document = ctx.document
    if not ctx.options.resolve_secrets:
        for ref in find_refs(text):
            problem = syntax_error(ref)
            if problem:
                yield _at(document, path, f"{ref}: {problem}")
            elif ref.scheme == "var":  # variables come from the repository: always checked
                try:
                    ctx.resolver.resolve(ref, document.base_dir)
                except SecretError as undefined:
                    yield _at(document, path, str(undefined))
        return
    outcome = ctx.resolver.outcome(text, document.base_dir)
    ctx.secrets += [value for ref, value in outcome.values if ref.secret or slot]
    for error in outcome.errors:
        yield _at(document, path, str(error))
    if outcome.expanded == "":
        yield _at(document, path, f"{text} expands to an empty value")
    for ref, value in outcome.values:
        if (ref.secret or slot) and 0 < len(value) < MIN_SCRUB_LENGTH:
            message = (
                f"the value of {ref} is shorter than {MIN_SCRUB_LENGTH} characters: "
                "it cannot be masked in output"
            )
            yield _at(document, path, message, WARNING)


def _literal_secret(document: Document, path: StringPath, text: str) -> Iterator[Problem]:
    if len(text) < MIN_SCRUB_LENGTH:
        message = f"a secret shorter than {MIN_SCRUB_LENGTH} characters cannot be masked in output"
        yield _at(document, path, message, WARNING)
    message = "secret written in the YAML (it ends up in Git); use ${env:NAME} or ${file:path}"
    yield _at(document, path, message, WARNING)


def _at(document: Document, path: StringPath, message: str, severity: str = ERROR) -> Problem:
    return Problem(document.locate(path), format_path(path), message, severity)
