#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# build-deb.sh [BUILD_DIR]: builds the Debian binary packages from this checkout.
#
# The packaging lives in contrib/debian/, not debian/, so the repository stays a plain CMake
# project.  This copies the checkout's files (tracked and untracked, not ignored: uncommitted
# changes are included) to BUILD_DIR/deb/vigil-VERSION/, adds contrib/debian as debian/, runs
# `dpkg-buildpackage -us -uc -b` there, then lintian on the result.  The packages end up in
# BUILD_DIR/deb/ (vigil_VERSION_ARCH.deb and its -dbgsym), lintian's report in
# BUILD_DIR/deb/lintian.txt.  Exits non-zero if the build fails or lintian reports an error.
#
# Needs: dpkg-dev, debhelper, lintian and the Build-Depends of contrib/debian/control
# (`apt-get build-dep` cannot read them from here: `dpkg-checkbuilddeps` names what is missing).
# BUILD_DIR defaults to build (in the repository).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$repo/build}")
out=$build/deb
version=$(dpkg-parsechangelog -l "$repo/contrib/debian/changelog" -S Version)
src=$out/vigil-$version

log() { echo "build-deb: $*" >&2; }

for tool in dpkg-buildpackage dh lintian; do
	command -v "$tool" >/dev/null || { log "$tool is missing (apt-get install dpkg-dev debhelper lintian)"; exit 1; }
done

rm -rf "$out"
mkdir -p "$src" "$out/tmp"
# lintian's caches (MLDBM files) would otherwise stay behind in /tmp.
export TMPDIR=$out/tmp
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	commit=$(git -C "$repo" rev-parse --short=12 HEAD)
	git -C "$repo" ls-files -z --cached --others --exclude-standard |
		(cd "$repo" && xargs -0 -r stat --printf='%n\0' 2>/dev/null) |
		tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
else
	commit=unknown
	tar -C "$repo" --exclude="./$(realpath --relative-to="$repo" "$build")" --exclude=./debian -cf - . |
		tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -a "$repo/contrib/debian" "$src/debian"

log "dpkg-buildpackage -us -uc -b in $src (commit $commit)"
t0=$SECONDS
(cd "$src" && VIGIL_GIT_COMMIT=$commit dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	log "ERROR: dpkg-buildpackage failed (log: $out/build.log)"
	exit 1
}
debs=("$out"/*.deb)
log "built in $((SECONDS - t0)) s: ${debs[*]##*/}"

changes=$(ls "$out"/vigil_"$version"_*.changes)
# --fail-on error: warnings are reported, not fatal.  Overrides would be in debian/.
lintian --info --display-info --fail-on error "$changes" >"$out/lintian.txt" 2>&1 && r=0 || r=$?
log "lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors, $(grep -c '^W:' "$out/lintian.txt" || true) warnings, $(grep -c '^I:' "$out/lintian.txt" || true) info (report: $out/lintian.txt)"
grep -E '^(E|W):' "$out/lintian.txt" >&2 || true
exit "$r"
