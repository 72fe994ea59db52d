"""QEMU guests (TCG) booted from Homeguy images for the end-to-end tests: their serial
console as a log to wait on and, where a test acts as the machine's operator, as a shell
to type into; or, booted as a person would with no serial port at all, their screen
(VGA text memory, read through QEMU's monitor) and keyboard (the monitor's sendkey).
Their networks are either QEMU's restricted user network (one forwarded service, nothing
else) or tap devices in a test's own namespaces.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TypeVar

from homeguy.files import write_atomic

OVMF = Path("/usr/share/OVMF")
Found = TypeVar("Found")  # what a wait found


@dataclass(frozen=True)
class Firmware:
    """A UEFI firmware (Debian's `ovmf`): its code, the variable store a guest starts
    from (copied per guest), and the machine options it needs."""

    code: Path
    vars: Path
    machine: str
    extra: tuple[str, ...] = ()


# Guest.firmware -> the UEFI firmware ("bios" is QEMU's SeaBIOS, none of these).
FIRMWARES: dict[str, Firmware] = {
    "uefi": Firmware(OVMF / "OVMF_CODE_4M.fd", OVMF / "OVMF_VARS_4M.fd", "q35"),
    # Secure Boot enforced: the build whose variables only SMM may write (so the guest's
    # own code cannot turn Secure Boot off), with Microsoft's keys enrolled and Secure
    # Boot on in its variable store (`.ms.fd`), as a PC from a shop.
    "secureboot": Firmware(OVMF / "OVMF_CODE_4M.secboot.fd", OVMF / "OVMF_VARS_4M.ms.fd",
                           "q35,smm=on",
                           ("-global", "driver=cfi.pflash01,property=secure,value=on")),
}
# live-config's default account on the live images; sudo without a password.
LIVE_USER, LIVE_PASSWORD = "user", "live"
LOGIN_PROMPTS = 6  # fresh login prompts asked for, 20 s each
# The VGA text screen: two bytes a cell (code page 437 character, colour) in the memory
# window at 0xb8000, from where the CRT controller's start address (registers 0x0c and
# 0x0d, in cells) says; Linux's vgacon scrolls by moving that start.
VGA_TEXT, COLUMNS, ROWS = 0xB8000, 80, 25
# What QEMU's screen can be while a test reads its text: VGA text mode (80x25 cells of 9x16
# pixels) or, before the kernel, isolinux's menu.
SCREEN_MODES = ((720, 400), (640, 480))
TEXT_COLOURS = 16  # at most on a text screen (VGA's palette); a picture has more
# What a person types on a US keyboard, as QEMU's sendkey names (the others: themselves).
KEY_NAMES = {" ": "spc", "\n": "ret", "\t": "tab", "-": "minus", "=": "equal",
             "[": "bracket_left", "]": "bracket_right", ";": "semicolon", "'": "apostrophe",
             "`": "grave_accent", "\\": "backslash", ",": "comma", ".": "dot", "/": "slash"}
SHIFTED = dict(zip('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./", strict=True))


@dataclass
class Guest:
    """One QEMU guest; `console` is its serial console log.

    Networking: by default QEMU's user network with `restrict=on` (eth0), forwarding
    10.0.2.100:8080 to `host_port` on the host's loopback (None: nothing at all), and
    with `second_nic` a second restricted one (eth1). With `taps`, one virtio NIC per tap
    device name instead (eth0, eth1, ... in order), created where QEMU runs: start the
    guest inside the test's network namespace (`netns`)."""

    iso: Path | None  # None: no CD-ROM (boot from the disk)
    workdir: Path
    host_port: int | None  # the service's port on the host; None: no service at all
    firmware: str = "bios"  # bios, or a UEFI firmware of FIRMWARES: uefi | secureboot
    kernel: tuple[Path, Path] | None = None
    append: str = ""
    disk: Path | None = None
    disk_format: str = "qcow2"  # raw: an image written as to a USB stick
    second_nic: bool = False
    taps: Sequence[str] = ()
    netns: str | None = None
    # Host directories the guest may mount read-only: mount tag -> path (9p, virtio).
    shares: dict[str, Path] = field(default_factory=dict)
    memory_mb: int = 2048
    serial: bool = True  # False: no serial port, only the screen and the keyboard
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _shell: socket.socket | None = field(default=None, repr=False)
    # What came over the console socket since the first keystroke: exactly the guest's
    # bytes. The log file may hold some twice: QEMU logs a write the socket refused for
    # the moment (EAGAIN) and logs it again when the serial port resends it.
    _heard: bytearray = field(default_factory=bytearray, repr=False)
    _marks: count[int] = field(default_factory=lambda: count(1), repr=False)

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    @property
    def console_socket(self) -> Path:
        return self.workdir / "console.sock"

    @property
    def monitor_socket(self) -> Path:
        return self.workdir / "monitor.sock"

    def _network(self) -> list[str]:
        if self.taps:
            argv = []
            for index, tap in enumerate(self.taps):
                argv += ["-netdev", f"tap,id=n{index},ifname={tap},script=no,downscript=no",
                         "-device", f"virtio-net-pci,netdev=n{index},mac={mac(tap)}"]
            return argv
        argv = ["-netdev", "user,id=n0,restrict=on" + (
                    "" if self.host_port is None else
                    f",guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:{self.host_port}"),
                "-device", "virtio-net-pci,netdev=n0"]
        if self.second_nic:
            argv += ["-netdev", "user,id=n1,restrict=on", "-device", "virtio-net-pci,netdev=n1"]
        return argv

    def argv(self) -> list[str]:
        # The console: logged whole, and a socket a test may type into.
        serial = (["-chardev", f"socket,id=con,path={self.console_socket},server=on,"
                               f"wait=off,logfile={self.console}", "-serial", "chardev:con"]
                  if self.serial else ["-serial", "none"])
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(self.memory_mb),
                "-smp", "1", "-display", "none", "-no-reboot", *serial,
                "-monitor", f"unix:{self.monitor_socket},server=on,wait=off",
                *self._network()]
        for tag, path in self.shares.items():
            argv += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,"
                                "readonly=on"]
        if self.iso is not None:
            argv += ["-drive", f"file={self.iso},media=cdrom,readonly=on,if=ide"]
        if self.disk is not None:
            argv += ["-drive", f"file={self.disk},format={self.disk_format},if=virtio"]
        if self.firmware != "bios":
            uefi = FIRMWARES[self.firmware]
            vars_copy = self.workdir / "OVMF_VARS.fd"
            shutil.copy(uefi.vars, vars_copy)
            argv += ["-machine", uefi.machine, *uefi.extra,
                     "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={uefi.code}",
                     "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        if self.kernel is not None:
            argv += ["-kernel", str(self.kernel[0]), "-initrd", str(self.kernel[1]),
                     "-append", self.append]
        else:
            argv += ["-boot", "d" if self.iso is not None else "c"]
        return argv

    def start(self) -> Guest:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console.write_bytes(b"")
        argv = self.argv()
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        (self.workdir / "qemu.cmdline").write_text(shlex.join(argv) + "\n")
        self.monitor_socket.unlink(missing_ok=True)  # an earlier guest's
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=(self.workdir / "qemu.log").open("wb"),
                                        stderr=subprocess.STDOUT)
        # Started once its monitor listens: the keys and screens a test asks for next
        # go through it.
        self._until(lambda: self.monitor_socket.exists() or None, "monitor socket",
                    lambda: (self.workdir / "qemu.log").read_text(errors="replace"), 30, 0.05)
        return self

    def text(self) -> str:
        return self.console.read_bytes().decode(errors="replace")

    def heard(self) -> str:
        """The console's output since :meth:`type` first connected to it."""
        return bytes(self._heard).decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float, after: int = 0,
                 source: Callable[[], str] | None = None) -> re.Match[str]:
        """The first match of `pattern` on the console (:meth:`text`, or `source`) from
        offset `after`; AssertionError with the console's end after `timeout` seconds or
        when QEMU exits."""
        regex = re.compile(pattern, re.MULTILINE)
        read = source or self.text
        return self._until(lambda: regex.search(read(), after), f"{pattern!r} on the console",
                           lambda: f"console end ({self.console}):\n{self.text()[-3000:]}",
                           timeout, 0.5)

    def _until(self, search: Callable[[], Found | None], what: str,
               seen: Callable[[], str], timeout: float, every: float) -> Found:
        """`search`'s match, tried every `every` seconds; AssertionError naming `what`,
        and what was `seen`, after `timeout` seconds or when QEMU exits."""
        deadline = time.monotonic() + timeout
        while True:
            found = search()
            if found:
                return found
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.process.returncode}) before "
                                     f"{what}; {seen()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s; {seen()}")
            time.sleep(every)

    def type(self, text: str) -> None:
        """Type `text` on the serial console, as a person at the machine would."""
        if self._shell is None:
            self._shell = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._shell.connect(str(self.console_socket))
            # What the guest prints is in the log file already; read it off the socket,
            # or QEMU stops the serial line once the socket's buffer is full.
            threading.Thread(target=_drain, args=(self._shell, self._heard),
                             daemon=True).start()
        self._shell.sendall(text.encode())

    def login_root(self, timeout: float) -> None:
        """Log in on the serial console as the live user, then become root."""
        self.wait_for(r"login: ", timeout)
        # A fresh prompt, last on its line: kernel messages may follow a prompt on its line
        # (charon loading its crypto modules as the home agent comes up), so ask again.
        for _ in range(LOGIN_PROMPTS):
            mark = len(self.heard())
            self.type("\n")
            try:
                self.wait_for(r"login: $", 20, after=mark, source=self.heard)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"no login prompt alone on its line after {LOGIN_PROMPTS} "
                                 f"tries ({self.console}); console end:\n{self.text()[-3000:]}")
        self.type(f"{LIVE_USER}\n")
        self.wait_for(r"Password: ?$", 60, source=self.heard)
        self.type(f"{LIVE_PASSWORD}\n")
        self.wait_for(r"~\$ ", 120, source=self.heard)
        mark = len(self.heard())
        self.type("sudo -i\n")
        self.wait_for(r"~# ", 60, after=mark, source=self.heard)
        # Kernel messages off the console, a plain prompt, no echo, colours or paging.
        self.shell("dmesg -n 1; bind 'set enable-bracketed-paste off'; stty -echo cols 500; "
                   "export PS1='ROOT# ' TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0", 120)

    def shell(self, command: str, timeout: float = 300, check: bool = True) -> str:
        """Run `command` in the root shell of :meth:`login_root`; its output. A non-zero
        exit status is an AssertionError naming the command (unless not `check`)."""
        mark_id = next(self._marks)
        mark = len(self.heard())
        self.type(f"{command}\necho \"@@{mark_id}:$?@@\"\n")
        found = self.wait_for(rf"@@{mark_id}:(\d+)@@", timeout, after=mark,
                              source=self.heard)
        output = self.heard()[mark:found.start()].replace("\r", "")
        output = re.sub(r"^ROOT# ", "", output, flags=re.MULTILINE).strip("\n")
        if check and found.group(1) != "0":
            raise AssertionError(f"{command!r} exited {found.group(1)} in the guest:\n{output}")
        return output

    def monitor(self, command: str) -> str:
        """One QEMU monitor command (e.g. `set_link n0 off`); its answer."""
        def until_prompt(sock: socket.socket) -> bytes:
            data = b""
            while not data.endswith(b"(qemu) "):
                chunk = sock.recv(4096)
                if not chunk:
                    raise AssertionError(f"QEMU's monitor closed; it said {data!r}")
                data += chunk
            return data

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.monitor_socket))
            until_prompt(sock)  # the banner
            sock.sendall(f"{command}\n".encode())
            return until_prompt(sock).decode(errors="replace")

    def _screendump(self) -> tuple[int, int, bytes]:
        """The screen's picture now (QEMU's screendump: the VGA or UEFI GOP surface):
        width, height, RGB bytes."""
        ppm = self.workdir / "screen.ppm"
        ppm.unlink(missing_ok=True)
        answer = self.monitor(f'screendump "{ppm}"')  # quoted: HMP reads a bare / as divide
        if not ppm.exists():
            raise AssertionError(f"QEMU made no screendump: {answer!r}")
        return _read_ppm(ppm.read_bytes())

    def screenshot(self, png: Path) -> Path:
        """What the guest's screen shows now, whatever the serial console says, as a PNG
        for a person to look at. AssertionError when the screen is one colour: nothing
        drawn, not a screenshot."""
        width, height, pixels = self._screendump()
        if _blank(pixels):
            raise AssertionError(f"{png.name}: the screen is blank ({width}x{height})")
        png.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(png, _png(width, height, pixels))
        return png

    def wait_for_boot_menu(self, timeout: float) -> None:
        """Until isolinux draws its menu: a 640x480 picture (vesamenu, its splash in
        hundreds of colours). QEMU's own screen before the BIOS starts ("Guest has not
        initialized the display") is 640x480 too, but text in two colours."""
        deadline, pressed = time.monotonic() + timeout, 0.0
        while True:
            width, height, pixels = self._screendump()
            if (width, height) == (640, 480) and _colours(pixels) > TEXT_COLOURS:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no boot menu on the screen within {timeout:.0f} s")
            # The menu boots its default after a few seconds unless a key is pressed:
            # one each second (the BIOS keeps them for the menu), as a person's finger
            # would, so that a loaded machine cannot let the countdown run out first.
            if time.monotonic() - pressed > 1:
                self.monitor("sendkey down")
                pressed = time.monotonic()
            time.sleep(0.1)

    def press(self, text: str, redrawn: float = 0) -> None:
        """Type `text` on the guest's keyboard (a US layout), as a person at it would
        (:meth:`send_keys`)."""
        self.send_keys(*keys(text), redrawn=redrawn)

    def send_keys(self, *names: str, redrawn: float = 0) -> None:
        """Press keys by QEMU's names (`down`, `ctrl-c`); with `redrawn`, then wait up to
        that many seconds for the screen to change and settle (a menu drawing its new
        selection, before a screenshot)."""
        shown = self._screendump() if redrawn else None
        for name in names:
            self.monitor(f"sendkey {name}")
        # Redrawn: changed, then still for a moment (a menu redraws in several steps).
        deadline, changed = time.monotonic() + redrawn, False
        while shown is not None and time.monotonic() < deadline:
            time.sleep(0.3)
            now = self._screendump()
            if changed and now == shown:
                break
            changed, shown = changed or now != shown, now

    def _crtc(self, index: int) -> int:
        self.monitor(f"o /b 0x3d4 {index:#x}")
        found = re.search(r"= (0x[0-9a-f]+)", self.monitor("i /b 0x3d5"))
        assert found, "QEMU's monitor read no VGA register"
        return int(found.group(1), 16)

    def screen_text(self) -> str:
        """What the guest's text screen shows (VGA text mode: the BIOS, or Linux's vgacon
        with `nomodeset`), one line per row, trailing blanks dropped."""
        return text_screen(self._text_cells())

    def _text_cells(self) -> bytes:
        """The text screen's memory, read with the guest paused, so that the start address
        and the memory agree."""
        dump = self.workdir / "screen.txt.bin"
        self.monitor("stop")
        try:
            start = self._crtc(0x0C) << 8 | self._crtc(0x0D)
            self.monitor(f'pmemsave {VGA_TEXT + 2 * start:#x} {2 * COLUMNS * ROWS} "{dump}"')
        finally:
            self.monitor("cont")
        return dump.read_bytes()

    def wait_on_screen(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` on the text screen, its rows joined: a line wrapped
        over rows matches whole, a line ends in the blanks after it. AssertionError with
        the screen (:meth:`screen_text`) after `timeout` seconds or when QEMU exits."""
        regex = re.compile(pattern)

        def search() -> re.Match[str] | None:
            found = regex.search(_characters(self._text_cells()))
            if found is None:
                self._still_text()
            return found

        return self._until(search, f"{pattern!r} on the screen",
                           lambda: f"the screen:\n{self.screen_text()}", timeout, 2)

    def _still_text(self) -> None:
        """AssertionError at once when a kernel's framebuffer has taken the screen: its text
        is then a picture, and no wait for it could end."""
        width, height, _ = self._screendump()
        if (width, height) not in SCREEN_MODES:
            raise AssertionError(f"the screen left VGA text mode ({width}x{height}): a "
                                 "framebuffer took it (no nomodeset on the kernel's "
                                 "command line?)")

    def wait_exit(self, timeout: float) -> int:
        """QEMU's exit status once the guest has rebooted or powered off (-no-reboot)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"QEMU still runs after {timeout:.0f} s; console end:\n"
                                 f"{self.text()[-3000:]}") from None

    def stop(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def text_screen(cells: bytes) -> str:
    """VGA text memory (character, colour; a row of :data:`COLUMNS` cells after another)
    as lines of text, trailing blanks dropped."""
    chars = _characters(cells)
    return "\n".join(chars[row:row + COLUMNS].rstrip()
                     for row in range(0, len(chars), COLUMNS))


def _characters(cells: bytes) -> str:
    """The screen's characters, row after row, without their colours."""
    return cells[0::2].decode("cp437")


def keys(text: str) -> list[str]:
    """`text` as QEMU sendkey names (a US keyboard): `a`, `shift-a`, `spc`, `shift-minus`."""
    named = []
    for char in text:
        if char.isascii() and char.isalnum():
            named.append(f"shift-{char.lower()}" if char.isupper() else char)
        elif char in SHIFTED:
            named.append(f"shift-{KEY_NAMES.get(SHIFTED[char], SHIFTED[char])}")
        elif char in KEY_NAMES:
            named.append(KEY_NAMES[char])
        else:
            raise ValueError(f"no key for {char!r} on a US keyboard")
    return named


def _blank(pixels: bytes) -> bool:
    return pixels == pixels[:3] * (len(pixels) // 3)


def _colours(pixels: bytes, every: int = 7) -> int:
    """How many colours a sample of the picture's pixels (one in `every`) has."""
    return len({pixels[i:i + 3] for i in range(0, len(pixels), 3 * every)})


def _read_ppm(data: bytes) -> tuple[int, int, bytes]:
    """A binary PPM (P6, maxval 255, as QEMU writes them): width, height, RGB bytes."""
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    if magic != b"P6" or maxval != b"255":
        raise AssertionError(f"not a P6/255 PPM: {data[:20]!r}")
    return int(width), int(height), pixels


def _png(width: int, height: int, rgb: bytes) -> bytes:
    """RGB bytes as a PNG (8-bit truecolour, no filter): the standard library's zlib."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    row = 3 * width
    raw = b"".join(b"\0" + rgb[y * row:(y + 1) * row] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _drain(sock: socket.socket, into: bytearray) -> None:
    try:
        while chunk := sock.recv(65536):
            into += chunk
    except OSError:
        pass  # closed by stop()


def mac(name: str) -> str:
    """A stable, locally administered MAC address for a NIC named `name`."""
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in
                                  hashlib.sha256(name.encode()).digest()[:3])
