"""Work a test module begins before its tests are due: a long stretch of one QEMU guest
on one core (a home agent's boot and set-up, an installation), in a thread of its own,
beside the tests that leave a core free, which the session runs first (conftest.py calls
each selected module's ``head_start()`` when the session's tests begin and its
``head_stop()`` when the session ends). The module's fixture takes the result, waiting
for it if need be; without a head start (the module run on its own, say) it does the
work itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class HeadStart(Generic[T]):
    """At most one piece of work begun early, until a fixture takes its result."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] = lambda: None
        self._result: list[T] = []
        self._error: list[BaseException] = []

    def begin(self, work: Callable[[], T], stop: Callable[[], None], name: str) -> None:
        """Run ``work`` in a thread; ``stop`` ends it early (stops its guest, whose exit
        ends the waits in ``work``) and releases what it holds."""
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._result.append(work())
        except BaseException as error:  # raised again in the test's thread, by take()
            self._error.append(error)

    def take(self) -> T | None:
        """The work's result once it is done (None when it was never begun); its error
        raised here, after ``stop``."""
        thread, self._thread = self._thread, None
        if thread is None:
            return None
        thread.join()
        if self._error:
            self._stop()
            raise self._error[0]
        return self._result[0]

    def cancel(self) -> None:
        """At the session's end, for work no fixture took (the session was cut short)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop()
            thread.join(60)
