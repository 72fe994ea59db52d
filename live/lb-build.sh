#!/bin/sh
# Run live-build's stages in a prepared working tree, showing them as they start and
# keeping the full output in LOGFILE (its end is printed when the build fails).
#
#   sh live/lb-build.sh WORKDIR LOGFILE HOMEGUY_CONFIG LAYER_DIR
#
# The chroot is made in two layers (homeguy/iso/layers.py says why and which stages):
#   1. the Debian layer: restored from LAYER_DIR when LAYER_DIR/key holds
#      HOMEGUY_LAYER_KEY; otherwise `lb bootstrap` and `lb chroot` with the configuration
#      lb-config.sh laid (the Debian package lists), the stages HOMEGUY_LAYER_STAGES marked
#      done beforehand, SOURCE_DATE_EPOCH=HOMEGUY_DEBIAN_LAYER_EPOCH; chroot/ and .build/
#      are then saved to LAYER_DIR (replaced whole, its key written last).
#   2. the Homeguy layer: HOMEGUY_CONFIG laid over config/, the stage files of
#      HOMEGUY_LAYER_STAGES and HOMEGUY_RERUN_STAGES removed, `lb chroot` again; with
#      HOMEGUY_INITRAMFS=keep, live-build's hacks stage does not make the initramfs again
#      (the Debian layer's, or the one Homeguy's packages made, is kept).
# Then normalize-chroot.sh removes what differs from build to build (the image is
# reproducible), `lb installer` (only when an installer is wanted) and `lb binary`, with
# Homeguy's xorriso options (lb-binary.sh).
set -eu

if [ "$#" -ne 4 ]; then
	echo "usage: $0 WORKDIR LOGFILE HOMEGUY_CONFIG LAYER_DIR" >&2
	exit 2
fi
: "${HOMEGUY_LAYER_KEY:?set by homeguy.iso.layers.layer_env}"
: "${HOMEGUY_LAYER_STAGES:?set by homeguy.iso.layers.layer_env}"
: "${HOMEGUY_RERUN_STAGES:?set by homeguy.iso.layers.layer_env}"
: "${HOMEGUY_DEBIAN_LAYER_EPOCH:?set by homeguy.iso.layers.layer_env}"
: "${HOMEGUY_INITRAMFS:?set by homeguy.iso.layers.layer_env}"
here=$(cd "$(dirname "$0")" && pwd)
work=$1
log=$2
homeguy_config=$(cd "$3" && pwd)
layer=$4
status="${log}.status"
: > "${log}"
rm -f "${status}"
started=$(date +%s)
cd "${work}"

# The functions below run in an && list, where `set -e` does not apply: each step is
# chained, so that a failed step stops the build (and never saves a broken layer).

# The Debian layer: restored, or made and saved.
debian_layer() {
	if [ -f "${layer}/key" ] && [ "$(cat "${layer}/key")" = "${HOMEGUY_LAYER_KEY}" ]; then
		if ! { rm -rf chroot && cp -a "${layer}/chroot" chroot \
			&& cp -a "${layer}/stages/." .build/; }; then
			echo "[lb] cannot restore the Debian layer from ${layer}:" \
				"remove that directory (the next build makes the layer again)"
			return 1
		fi
		echo "[lb] chroot: Debian layer restored from ${layer}"
		return
	fi
	echo "[lb] chroot: Debian layer not cached (key ${HOMEGUY_LAYER_KEY}), making it"
	lb bootstrap || return
	for stage in ${HOMEGUY_LAYER_STAGES}; do
		touch ".build/${stage}" || return
	done
	SOURCE_DATE_EPOCH="${HOMEGUY_DEBIAN_LAYER_EPOCH}" lb chroot \
		&& rm -rf "${layer}.new" && mkdir -p "${layer}.new" \
		&& cp -a chroot "${layer}.new/chroot" && cp -a .build "${layer}.new/stages" \
		&& printf '%s\n' "${HOMEGUY_LAYER_KEY}" > "${layer}.new/key" \
		&& rm -rf "${layer}" && mv "${layer}.new" "${layer}" \
		&& echo "[lb] chroot: Debian layer saved to ${layer}"
}

# The Homeguy layer, on the Debian one.
homeguy_layer() {
	cp -R "${homeguy_config}/." config/ || return
	for stage in ${HOMEGUY_LAYER_STAGES} ${HOMEGUY_RERUN_STAGES}; do
		rm -f ".build/${stage}" || return
	done
	if [ "${HOMEGUY_INITRAMFS}" = "keep" ]; then
		# live-build's own mark: its hacks stage skips update-initramfs, removes the mark.
		touch chroot/initrd.img_has_already_been_regenerated || return
		echo "[lb] chroot: Homeguy layer (initramfs kept: none of its files is in it)"
	else
		echo "[lb] chroot: Homeguy layer (initramfs made again)"
	fi
	lb chroot
}

# `lb installer` with no installer wanted still copies the bootstrap into a second
# chroot and updates its package indices there, for nothing: then it is not run.
installer() {
	# shellcheck disable=SC1091
	wanted=$(. ./config/binary && echo "${LB_DEBIAN_INSTALLER:-none}") || return
	if [ "${wanted}" = "none" ]; then
		echo "[lb] installer: none wanted, stage skipped"
	else
		lb installer
	fi
}

{
	{ debian_layer && homeguy_layer && sh "${here}/normalize-chroot.sh" chroot \
		&& installer && sh "${here}/lb-binary.sh" "${log%.log}.live-build"; } 2>&1
	echo "$?" > "${status}"
} | while IFS= read -r line; do
	printf '%s\n' "${line}" >> "${log}"
	case "${line}" in
		*"] lb bootstrap"|*"] lb chroot"|*"] lb binary"|*"] lb source"|\
		*"] lb chroot_install-packages"*|*"] lb binary_rootfs"*|*"] lb binary_iso"*|\
		*"] lb bootstrap_debootstrap"*|*"] lb chroot_hooks"*|*"] lb chroot_hacks"*|\
		*"] lb binary_grub"*|*"] lb installer"|"[lb] "*)
			now=$(date +%s)
			what=${line#*] lb }
			printf '[lb %4ss] %s\n' "$((now - started))" "${what#"[lb] "}"
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
