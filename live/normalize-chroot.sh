#!/bin/sh
# Make the live root file system depend only on the build's inputs and SOURCE_DATE_EPOCH.
# Run on the host between `lb chroot` and `lb binary` (live/lb-build.sh), on the tree that
# becomes filesystem.squashfs; mksquashfs then clamps every time stamp to the epoch.
#
#   sh live/normalize-chroot.sh CHROOT
#
# What it removes is rebuilt at boot or on first use; what it empties keeps its owner and
# mode (wtmp, btmp, lastlog are created by packages with those).
set -eu

if [ "$#" -ne 1 ] || [ ! -d "$1/etc" ]; then
	echo "usage: $0 CHROOT (a live-build chroot/ with etc/ in it)" >&2
	exit 2
fi
: "${SOURCE_DATE_EPOCH:?set SOURCE_DATE_EPOCH for a reproducible image}"
cd "$1"

# Logs of the package installations: dates, durations, the order of parallel work.
find var/log -type f -exec truncate -s 0 {} +
rm -rf var/log/journal/* var/log/apt/eipp.log.xz
# Caches with build-time contents or orders, all rebuilt when needed.
rm -f var/cache/ldconfig/aux-cache var/lib/systemd/catalog/database
rm -f var/cache/debconf/*-old var/lib/dpkg/*-old etc/passwd- etc/group- etc/shadow- \
	etc/gshadow- etc/subuid- etc/subgid-
rm -rf var/cache/apt/*.bin var/lib/apt/lists/* var/cache/man/* tmp/* var/tmp/*
# Identity of one machine: systemd makes one at first boot (an empty file: not yet made).
rm -f var/lib/dbus/machine-id
if [ -e etc/machine-id ]; then
	: > etc/machine-id
fi
# Python byte code: marshal's output depends on reference counts at compile time, so two
# builds differ; python3 compiles the modules again when they are first imported.
find usr -name __pycache__ -type d -prune -exec rm -rf {} +
# Random seeds saved by the build's boot-time services, if any ran.
rm -f var/lib/systemd/random-seed var/lib/urandom/random-seed
echo "[lb] chroot normalized for SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}"
