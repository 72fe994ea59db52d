"""Work a test module begins before its tests are due: a long stretch of one QEMU guest
on one core (a home agent's boot and set-up, an installation), in a thread of its own,
beside the tests that leave a core free, which the session runs first. A module names
its work in a module-level ``HEAD_START``; conftest.py starts every selected module's
when the session's tests begin and cancels it when the session ends. The module's
fixture takes the result, waiting for it if need be; without a head start (the module
run on its own, say) it does the work itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class HeadStart(Generic[T]):
    """At most one piece of work begun early, until a fixture takes its result.
    ``begin`` runs in the caller's thread (image builds and services take the machine)
    and returns the work for the background thread, and how to stop it early (stop its
    guest, whose exit ends the waits in the work) and release what it holds."""

    def __init__(self, begin: Callable[[], tuple[Callable[[], T], Callable[[], None]]],
                 name: str) -> None:
        self._begin, self._name = begin, name
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] = lambda: None
        self._result: list[T] = []
        self._error: list[BaseException] = []

    def start(self) -> None:
        work, self._stop = self._begin()
        self._thread = threading.Thread(target=self._run, args=(work,), name=self._name,
                                        daemon=True)
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
