#!/bin/sh
# Prints sipprot's version as a valid Debian version, from git describe:
#   tag v1.2.3 on HEAD        -> 1.2.3
#   4 commits after v1.2.3    -> 1.2.3+git20261207.4.abc1234  (sorts after 1.2.3)
#   no tag yet                -> 0.0~git20261207.abc1234      (sorts before 0.0)
# with "+dirty" appended for a modified work tree, and "0.0~unknown" outside
# a git checkout. The date is HEAD's commit date (UTC), so a rebuild of the
# same commit gets the same version.
set -eu
if ! hash=$(git rev-parse --short=7 HEAD 2>/dev/null); then
	echo 0.0~unknown
	exit 0
fi
date=$(TZ=UTC git log -1 --date=format-local:%Y%m%d --format=%cd HEAD)
dirty=
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=+dirty
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
	v=$(echo "${tag#v}" | tr - '~') # 1.2.3-rc1 -> 1.2.3~rc1, before 1.2.3
elif desc=$(git describe --tags --long --match 'v[0-9]*' HEAD 2>/dev/null); then
	# v1.2.3-4-gabc1234
	base=${desc%-*-g*}
	n=${desc#"$base"-}
	n=${n%%-*}
	v=$(echo "${base#v}" | tr - '~')+git$date.$n.$hash
else
	v=0.0~git$date.$hash
fi
echo "$v$dirty"
