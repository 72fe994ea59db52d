#!/bin/sh
# Run live-build's stages in a prepared working tree, showing them as they start and
# keeping the full output in LOGFILE (its end is printed when the build fails). Between
# `lb chroot` and `lb binary`, normalize-chroot.sh removes what differs from build to
# build (the image is reproducible); otherwise this is what `lb build` runs.
#
#   sh live/lb-build.sh WORKDIR LOGFILE
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: $0 WORKDIR LOGFILE" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
work=$1
log=$2
status="${log}.status"
: > "${log}"
rm -f "${status}"
started=$(date +%s)
cd "${work}"

{
	{ lb bootstrap && lb chroot && sh "${here}/normalize-chroot.sh" chroot \
		&& lb installer && lb binary; } 2>&1
	echo "$?" > "${status}"
} | while IFS= read -r line; do
	printf '%s\n' "${line}" >> "${log}"
	case "${line}" in
		*"] lb bootstrap"|*"] lb chroot"|*"] lb binary"|*"] lb source"|\
		*"] lb chroot_install-packages"*|*"] lb binary_rootfs"*|*"] lb binary_iso"*|\
		*"] lb bootstrap_debootstrap"*|*"] lb chroot_hooks"*|*"] lb binary_grub"*|\
		"[lb] chroot normalized"*)
			now=$(date +%s)
			printf '[lb %4ss] %s\n' "$((now - started))" "${line#*] lb }"
			;;
	esac
done

code=$(cat "${status}" 2>/dev/null || echo 1)
rm -f "${status}"
if [ "${code}" -ne 0 ]; then
	echo "[lb] build failed (exit ${code}); the end of ${log}:" >&2
	tail -n 30 "${log}" >&2
	exit "${code}"
fi
echo "[lb] build done in $(( $(date +%s) - started )) s"
