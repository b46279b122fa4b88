"""Stage 2b, lint: the semantic checks of a stack, offline, all at once, each problem located.

Each check is a small function ``check_*(ctx) -> Iterable[Problem]``. Two kinds:

- document checks (:data:`DOCUMENT_CHECKS`, over a `DocumentContext`) look at the
  declarations of one document: option keys and values, names, patterns, caller IDs, secrets.
  They are the bulk of the work, run (after the schema) on each document;
- stack checks (:data:`STACK_CHECKS`, over a `StackContext`) relate declarations to each
  other: references, cycles, namespaces, duplicate patterns, policy.

:func:`check_stack` gives every problem of a stack. A new check (say, a caller-ID policy) is
one more function in one of the tuples. The checks live by subject: `names`, `references`,
`options` (keys and values of option sections), `outcalls` (patterns and caller IDs),
`secrets`; `live` holds `check_live`, what only the live PBX can tell. `context` is what they
share.

What the checks know about confd comes from its validators (names, option keys and values,
prefixes, extensions), from the PJSIP doc (the values each option takes) and from how Wazo
renders endpoints (repeated options, caller IDs). References to objects not declared in the
stack may exist on the PBX: offline, they are warnings, except for a typo of a declared name
or when the policy prunes their kind (then apply would delete them): errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import (
    DocumentContext,
    LintOptions,
    StackContext,
    data_of,
    options_of,
)
from wazo_reconcile.lint.live import check_live
from wazo_reconcile.lint.names import check_names, check_namespace
from wazo_reconcile.lint.options import (
    check_iax_options,
    check_iax_registers,
    check_pjsip_sections,
    check_shortcuts,
    check_sip_options,
    check_transports,
)
from wazo_reconcile.lint.outcalls import (
    check_caller_ids,
    check_dial_patterns,
    check_forwarded_caller_ids,
    check_outcalls,
    check_pattern_uniqueness,
    yaml_outcall,
)
from wazo_reconcile.lint.references import (
    check_global_inheritance,
    check_policy,
    check_references,
    check_template_cycles,
)
from wazo_reconcile.lint.secrets import check_secret_references
from wazo_reconcile.schema import validate_document
from wazo_reconcile.secrets import SecretRegistry
from wazo_reconcile.stack import Stack

# What the rest of the program uses.
__all__ = ["LintOptions", "check_live", "check_stack", "data_of", "options_of", "yaml_outcall"]

DocumentCheck = Callable[[DocumentContext], Iterable[Problem]]
StackCheck = Callable[[StackContext], Iterable[Problem]]

DOCUMENT_CHECKS: tuple[DocumentCheck, ...] = (
    check_names,
    check_sip_options,
    check_shortcuts,
    check_transports,
    check_pjsip_sections,
    check_iax_options,
    check_iax_registers,
    check_outcalls,
    check_caller_ids,
    check_secret_references,
)

STACK_CHECKS: tuple[StackCheck, ...] = (
    check_namespace,
    check_references,
    check_template_cycles,
    check_global_inheritance,
    check_pattern_uniqueness,
    check_dial_patterns,
    check_forwarded_caller_ids,
    check_policy,
)


def check_stack(
    stack: Stack, *, options: LintOptions | None = None, secrets: SecretRegistry | None = None
) -> list[Problem]:
    """Every schema and lint problem of a stack; secret values met go into ``secrets``.

    Each document gets the schema, then the document checks on the declarations that passed
    it. Stack checks need every file: they are skipped when one could not be read.
    """
    problems: list[Problem] = []
    invalid: set[tuple[int, str, str]] = set()
    for document in stack.documents:
        found = validate_document(document)
        failed = frozenset(  # (kind, name) of declarations with schema problems
            (str(path[0]), path[1])
            for path, _ in found
            if len(path) >= 2 and isinstance(path[1], str)
        )
        checked = DocumentContext(document, options, failed)
        problems += [problem for _, problem in found]
        problems += [problem for check in DOCUMENT_CHECKS for problem in check(checked)]
        invalid |= {(document.ordinal, kind, name) for kind, name in failed}
        if secrets is not None:
            for value in checked.secrets:
                secrets.add(value)
    if stack.readable:
        ctx = StackContext(stack, options, frozenset(invalid))
        problems += [problem for check in STACK_CHECKS for problem in check(ctx)]
    return problems
