#!/bin/sh
# `lb binary` in a live-build working tree (the current directory), with xorriso options
# of Homeguy's that live-build has no setting for: HOMEGUY_XORRISO_OPTIONS
# (homeguy.iso.lbconfig.XORRISO_OPTIONS: the node slot's data last).
#
#   sh live/lb-binary.sh TREE
#
# `lb` takes its scripts and data from LIVE_BUILD when that is set: for `lb binary` only,
# TREE is made a tree of links to the installed live-build whose binary_iso is a copy with
# one line added, right before it writes the xorriso command. TREE lies outside the working
# tree: live-build would take a local/live-build there as LIVE_BUILD for every stage.
set -eu

if [ "$#" -ne 1 ]; then
	echo "usage: $0 TREE" >&2
	exit 2
fi
: "${HOMEGUY_XORRISO_OPTIONS:?set by homeguy.iso.build (lbconfig.XORRISO_OPTIONS)}"
tree=$1
own=/usr/lib/live/build/binary_iso
marker='cat > binary.sh << EOF'
if [ "$(grep -cxF "${marker}" "${own}")" -ne 1 ]; then
	echo "[lb] ${own} has no single line '${marker}': this live-build version writes" \
		"its xorriso command differently; adapt $0" >&2
	exit 1
fi
rm -rf "${tree}"
mkdir -p "${tree}/scripts/build"
ln -s /usr/lib/live/build.sh "${tree}/scripts/build.sh"
ln -s /usr/share/live/build/functions "${tree}/functions"
ln -s /usr/share/live/build "${tree}/share"
ln -s /usr/share/live/build/data "${tree}/data"
for script in /usr/lib/live/build/*; do
	if [ "${script}" != "${own}" ]; then
		ln -s "${script}" "${tree}/scripts/build/"
	fi
done
awk -v marker="${marker}" -v options="${HOMEGUY_XORRISO_OPTIONS}" \
	'$0 == marker { print "XORRISO_OPTIONS=\"${XORRISO_OPTIONS} " options "\"" } { print }' \
	"${own}" > "${tree}/scripts/build/binary_iso"
chmod 755 "${tree}/scripts/build/binary_iso"
echo "[lb] binary: xorriso gets ${HOMEGUY_XORRISO_OPTIONS}"
LIVE_BUILD="${tree}" exec lb binary
