#!/bin/sh
# Run `lb build` in a prepared working tree, showing its stages as they start and
# keeping the full output in LOGFILE (its end is printed when the build fails).
#
#   sh live/lb-build.sh WORKDIR LOGFILE
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: $0 WORKDIR LOGFILE" >&2
	exit 2
fi
work=$1
log=$2
status="${log}.status"
: > "${log}"
rm -f "${status}"
started=$(date +%s)
cd "${work}"

{ lb build 2>&1; echo "$?" > "${status}"; } | while IFS= read -r line; do
	printf '%s\n' "${line}" >> "${log}"
	case "${line}" in
		*"] lb bootstrap"|*"] lb chroot"|*"] lb binary"|*"] lb source"|\
		*"] lb chroot_install-packages"*|*"] lb binary_rootfs"*|*"] lb binary_iso"*|\
		*"] lb bootstrap_debootstrap"*|*"] lb chroot_hooks"*|*"] lb binary_grub"*)
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
