"""Ending apt downloads that hang during an image build.

apt in live-build's chroot has been seen waiting without end: an hour in the binary
stage's index update, until the build's own time limit, with one connection to the mirror
open and idle (that image also listed a source that refused connections, a test's keyring
leaking into out/debs, since fixed). apt's own timeout did not end it. `MirrorStall`,
called while live-build runs (`homeguy.run.run(watch=...)`), ends the apt methods in the
build's chroot once the build log has not grown for `seconds`; apt then fails, and the
build is made again (`homeguy.iso.build`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

# No new line in live-build's log for this long while apt's methods run: the download is
# stuck. A whole index or the largest package from the mirror arrives in seconds; the
# quiet stages that take longer (mksquashfs, the initramfs) run no apt method.
STALL_SECONDS = 90.0
APT_METHODS = "usr/lib/apt/methods"


def apt_methods(chroot: Path) -> list[int]:
    """The processes running one of apt's download methods from inside chroot."""
    prefix = f"{chroot.resolve()}/{APT_METHODS}/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
        except OSError:  # gone already, or a kernel thread
            continue
        if exe.startswith(prefix):
            found.append(int(entry.name))
    return found


class MirrorStall:
    """Called every few seconds while a build writes `log`: when the log has not grown
    for `seconds` and apt methods run in `chroot`, ends them and says so."""

    def __init__(self, log: Path, chroot: Path, say: Callable[[str], None],
                 seconds: float = STALL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.chroot, self.say = log, chroot, say
        self.seconds, self.clock = seconds, clock
        self.size = -1
        self.since = clock()
        self.ended = 0  # apt methods ended so far

    def __call__(self) -> None:
        try:
            size = self.log.stat().st_size
        except OSError:
            size = 0
        now = self.clock()
        if size != self.size:
            self.size, self.since = size, now
            return
        if now - self.since < self.seconds:
            return
        methods = apt_methods(self.chroot)
        for pid in methods:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            self.ended += 1
        if methods:
            self.say(f"      the mirror stalled: {self.log} quiet for {now - self.since:.0f} s "
                     f"with apt downloading; ended its {len(methods)} download method(s)")
        self.since = now
