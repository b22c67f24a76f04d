#!/usr/bin/env bash
# The CrowdSec Local API the fleet/ tests run against: Debian's crowdsec
# package, downloaded and unpacked (not installed: its postinst registers
# with the Central API, which needs the internet). Idempotent.
set -euo pipefail
DEST=${CROWDSEC_DIR:-/opt/crowdsec-extracted}
if [ -x "$DEST/usr/bin/crowdsec" ] && [ -x "$DEST/usr/bin/cscli" ]; then
	echo "crowdsec: already in $DEST"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download crowdsec || { apt-get update && apt-get download crowdsec; }
mkdir -p "$DEST"
dpkg-deb -x crowdsec_*.deb "$DEST"
"$DEST/usr/bin/crowdsec" -version 2>&1 | head -1
