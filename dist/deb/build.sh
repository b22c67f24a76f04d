#!/bin/sh
# Builds sipprot_VERSION_ARCH.deb with Debian's own dpkg-deb: `make deb`
# runs it from the repository root as
#
#	dist/deb/build.sh VERSION [OUTDIR]
#
# GO (default go), COMMIT and MAINTAINER come from the environment; the
# Makefile sets them. Files are owned by root in the package through
# dpkg-deb --root-owner-group, so neither root nor fakeroot is needed.
set -eu

version=${1:?usage: build.sh VERSION [OUTDIR]}
outdir=${2:-.}
GO=${GO:-go}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
MAINTAINER=${MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || true)}
[ -n "$MAINTAINER" ] || { echo "build.sh: set MAINTAINER='Name <email>'" >&2; exit 1; }
here=$(dirname "$0")

dpkg --validate-version "$version" || { echo "build.sh: $version is not a Debian version" >&2; exit 1; }

goarch=$($GO env GOARCH)
case $goarch in
amd64 | arm64 | riscv64 | s390x) arch=$goarch ;;
386) arch=i386 ;;
ppc64le) arch=ppc64el ;;
*) echo "build.sh: no Debian architecture for GOARCH=$goarch" >&2; exit 1 ;;
esac

# Reproducible: every timestamp in the package is the commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root/DEBIAN"

# The binary: static (no libc dependency to declare, runs the same on every
# release), stripped of its symbol table as Debian policy wants.
CGO_ENABLED=0 $GO build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/sipprot/sipprot/cli.version=$version -X github.com/sipprot/sipprot/cli.commit=$COMMIT" \
	-o "$stage/sipprot" .
install -D -m 0755 "$stage/sipprot" "$root/usr/sbin/sipprot"

# The unit and the init script, with the package's paths; the man pages
# document the command in place of the README `make install` ships.
install -d -m 0755 "$root/lib/systemd/system" "$root/etc/init.d"
sed -e 's#/usr/local/sbin/sipprot#/usr/sbin/sipprot#g' \
	-e 's#^Documentation=.*#Documentation=man:sipprot-run(8) file:///usr/share/doc/sipprot/README.md.gz#' \
	-e 's#^\# systemd unit for sipprot.*#\# systemd unit for sipprot, from the Debian package.#' \
	dist/sipprot.service >"$root/lib/systemd/system/sipprot.service"
chmod 0644 "$root/lib/systemd/system/sipprot.service"
# The init script is sipprotd, as in the original product; under systemd
# that name is an alias of the unit, so systemd-sysv-generator never makes
# a second service from the script and `systemctl stop sipprotd` and
# `/etc/init.d/sipprotd stop` stop the one daemon.
ln -s sipprot.service "$root/lib/systemd/system/sipprotd.service"
sed -e 's#/usr/local/sbin/sipprot#/usr/sbin/sipprot#g' dist/sipprotd.init >"$root/etc/init.d/sipprotd"
chmod 0755 "$root/etc/init.d/sipprotd"

# Config and lists: conffiles, so dpkg never overwrites an operator's edit.
# 0750 as `make install` makes it: the operator keeps secrets beside the
# config (the fleet's lapi.pass, SMTP password files).
install -d -m 0750 "$root/etc/sipprot"
"$stage/sipprot" config defaults >"$root/etc/sipprot/sipprot.conf"
for l in allowlist denylist; do
	printf '# One IP address or CIDR per line; text after it is a note.\n' >"$root/etc/sipprot/$l"
done
chmod 0644 "$root/etc/sipprot/sipprot.conf" "$root/etc/sipprot/allowlist" "$root/etc/sipprot/denylist"

# Bash completion, where bash-completion loads it on demand.
install -d -m 0755 "$root/usr/share/bash-completion/completions"
"$stage/sipprot" completion bash >"$root/usr/share/bash-completion/completions/sipprot"
chmod 0644 "$root/usr/share/bash-completion/completions/sipprot"

# Man pages from the cobra commands, section 8.
install -d -m 0755 "$root/usr/share/man/man8"
$GO run ./internal/genman "$root/usr/share/man/man8"
gzip -9n "$root"/usr/share/man/man8/*.8
chmod 0644 "$root"/usr/share/man/man8/*.8.gz

# Documentation: copyright (the repository has no license file: say so,
# then every Go module linked into the binary with its own license text),
# changelog, README.
doc=$root/usr/share/doc/sipprot
install -d -m 0755 "$doc"
{
	cat "$here/copyright"
	printf '\nFiles: (linked into /usr/sbin/sipprot) the Go standard library and runtime, %s\nLicense text:\n' "$($GO env GOVERSION)"
	sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$($GO env GOROOT)/LICENSE"
	$GO list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' . |
		sort -u | while read -r path ver dir; do
		lic=$(ls "$dir" | grep -iE '^(licen[cs]e|copying)' | head -n 1 || true)
		printf '\nFiles: (linked into /usr/sbin/sipprot) %s %s\n' "$path" "$ver"
		if [ -z "$lic" ]; then
			printf 'License: none shipped with the module\n'
		elif grep -q 'Apache License' "$dir/$lic" && grep -q 'Version 2.0' "$dir/$lic"; then
			# Policy 12.5: refer to the copy every Debian system has.
			printf 'License: Apache-2.0, in /usr/share/common-licenses/Apache-2.0\n'
		else
			printf 'License text (%s):\n' "$lic"
			sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$dir/$lic"
		fi
		# Apache-2.0 asks for the NOTICE file to travel with the binary.
		if [ -f "$dir/NOTICE" ]; then
			printf 'Notice (NOTICE):\n'
			sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$dir/NOTICE"
		fi
	done
} >"$doc/copyright"
# A version without a Debian revision (1.2.3, not 1.2.3-1) is a native
# package's, whose changelog policy names changelog.gz.
changelog=changelog.gz
case $version in *-*) changelog=changelog.Debian.gz ;; esac
cdate=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf 'sipprot (%s) unstable; urgency=medium\n\n  * Built from git commit %s.\n\n -- %s  %s\n' \
	"$version" "${COMMIT:-unknown}" "$MAINTAINER" "$cdate" | gzip -9n >"$doc/$changelog"
gzip -9nc README.md >"$doc/README.md.gz"
chmod 0644 "$doc"/*

install -D -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/sipprot"

# Control files.
for f in postinst prerm postrm; do
	install -m 0755 "$here/$f" "$root/DEBIAN/$f"
done
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | LC_ALL=C sort |
	xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@MAINTAINER@/$MAINTAINER/" "$here/control" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$outdir/sipprot_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
