"""The second CPU for a pure computation: run it in a forked child, take its pickled result.

Python threads share one CPU for Python code; a forked child has its own, and starts with a
copy of everything the parent holds, so only the result crosses (through a pipe). Used where
the work splits into independent parts: reading a big stack (``config.read_stack``, the files
shared out through a :class:`SharedQueue`) and building and emitting half of a big kind's
entries (``export``).
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    """``compute()`` running in a forked child (see :func:`forked`)."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self.compute = compute
        self.pid = 0
        self._pipe: int | None = None
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return  # forking a threaded process is unsafe: result() computes here
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child, which never returns
            status = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as out:
                    out.write(pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL))
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self._pipe = read_end

    def result(self) -> T:
        """The child's result; ``compute()`` in this process if there is no child or it
        failed (the same answer, only not computed in parallel)."""
        if self._pipe is None:
            return self.compute()
        with os.fdopen(self._pipe, "rb") as pipe:
            self._pipe = None
            payload = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status != 0 or not payload:
            return self.compute()
        found: T = pickle.loads(payload)
        return found

    def close(self) -> None:
        """Stop and reap the child if its result was not taken (the caller failed)."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def forked(compute: Callable[[], T]) -> Forked[T]:
    """Start ``compute()`` in a forked child: ``with forked(f) as job: … job.result()``.

    When forking is not possible or not safe (no ``os.fork``; other threads running, whose
    locks the child would inherit) or the child fails, ``result()`` runs ``compute()`` in the
    caller. Leaving the ``with`` block stops a child whose result was not taken.
    """
    return Forked(compute)


_RECORD = struct.Struct("=I")
# At most this many records wait in the pipe (4 KiB: every pipe holds that much, so they are
# written before anyone reads); more items are handed out in batches.
_MAX_RECORDS = 1024


class SharedQueue(Generic[T]):
    """Items handed out one at a time to whichever process asks first: this one or a child
    forked after the queue was made. The faster process takes more, so two processes of
    unequal speed still end together. The items' indices wait in a pipe; reading one index
    is atomic, so no item is handed out twice. Iterate to take items until none is left."""

    def __init__(self, items: Sequence[T]) -> None:
        self.items = list(items)
        self.batch = max(1, -(-len(self.items) // _MAX_RECORDS))
        self._fd, write_end = os.pipe()
        try:
            count = -(-len(self.items) // self.batch)
            os.write(write_end, b"".join(_RECORD.pack(i) for i in range(count)))
        finally:
            os.close(write_end)

    def __iter__(self) -> Iterator[T]:
        while self._fd >= 0 and len(record := os.read(self._fd, _RECORD.size)) == _RECORD.size:
            start = _RECORD.unpack(record)[0] * self.batch
            yield from self.items[start : start + self.batch]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SharedQueue[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
