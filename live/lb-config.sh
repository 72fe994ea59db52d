#!/bin/sh
# Prepare a live-build working tree: clean what the last build left (not the cache),
# run `lb config` with the options homeguy.iso.lbconfig computed, lay the rendered files
# over it.
#
#   sh live/lb-config.sh WORKDIR RENDERED_CONFIG CACHE_DIR -- LB_CONFIG_OPTIONS...
#
# SOURCE_DATE_EPOCH must be set (reproducible images). Run as root.
set -eu

if [ "$#" -lt 4 ] || [ "$4" != "--" ]; then
	echo "usage: $0 WORKDIR RENDERED_CONFIG CACHE_DIR -- LB_CONFIG_OPTIONS..." >&2
	exit 2
fi
work=$1
rendered=$2
cache=$3
shift 4
: "${SOURCE_DATE_EPOCH:?set SOURCE_DATE_EPOCH for a reproducible image}"

mkdir -p "${work}"
cd "${work}"
echo "[lb] config in ${work} (cache ${cache})"
if [ -d config ]; then
	# Unmounts and removes chroot/, binary/ and the stage files; keeps cache/.
	lb clean --all >/dev/null
fi
rm -rf config auto ./*.iso ./*.packages ./*.contents ./*.files ./*.log
# live-build's cache (bootstrap, downloaded packages) lives outside the working tree.
if [ ! -L cache ]; then
	rm -rf cache
	ln -s "${cache}" cache
fi
lb config "$@" >/dev/null
cp -R "${rendered}/." config/
echo "[lb] config ready: $(find config -type f | wc -l) files"
