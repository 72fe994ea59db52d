"""Live ISOs: profiles rendered into a live-build configuration, built, and personalized.

The flow, one module per concern; the pure ones do no I/O and are tested with exact values:

- `profile`: profiles/*.toml parsed against the PROFILE_KEYS table (pure, and the reader);
- `lbconfig`: the `lb config` options and the configuration tree rendered over them (pure);
- `layers`: the chroot's two layers, what makes the cached Debian one and its key (pure);
- `digest`: the inputs digest that keys a built image (pure);
- `slot`: where the per-node slot is in an image (pure; its format is homeguy_slot);
- `serve`: out/repo over HTTP on the loopback while live-build runs;
- `stall`: ends apt downloads that hang, so that the build is made again;
- `build`: the shell: plans a profile, runs the POSIX sh wrappers in live/ through
  `homeguy.run.run`, writes out/iso/;
- `meta`: an image's .json, and the hash state of its bytes before the slot kept there;
- `personalize`: the shell: a node's image, the base image with only its slot replaced.

The per-node slot: a fixed-size file, /homeguy/node.conf, on the ISO 9660 medium (which
live-boot mounts at /run/live/medium). Its offset in the image is recorded at build time
in the image's .json; a node's image is the base image with only those bytes replaced.
The slot's data is the image's last file data, so that a node's image's SHA-256 resumes
the base's saved state before the slot and hashes only the slot and a small fixed tail.
"""

from __future__ import annotations


class IsoError(Exception):
    """A profile, an image or a slot is not what was expected; the message says what."""
