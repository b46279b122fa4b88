"""The second CPU for a pure computation: run it in a forked child, take its pickled result.

Python threads share one CPU for Python code; a forked child has its own, and starts with a
copy of everything the parent holds, so only the result crosses (through a pipe). Used where
the work splits into independent halves (export's YAML emission); reading a big stack has
its own helper process (``config.read_stack``), which also keeps what each file was read with.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def forked(compute: Callable[[], T]) -> Callable[[], T]:
    """Start ``compute()`` in a forked child; return a function that waits for its result.

    When forking is not possible or not safe (no ``os.fork``; other threads running, whose
    locks the child would inherit) or the child fails, ``compute()`` runs in the caller when
    the result is asked for: the answer is the same, only not computed in parallel. The
    returned function must be called (it reaps the child).
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return compute
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which never returns
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                out.write(pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)

    def result() -> T:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not payload:
            return compute()
        found: T = pickle.loads(payload)
        return found

    return result
