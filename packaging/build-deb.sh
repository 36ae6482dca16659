#!/usr/bin/env bash
# Builds the Debian package of hellod: hellod_<version>_<arch>.deb into OUTDIR
# and nothing else.
#
# Usage: packaging/build-deb.sh OUTDIR
#
# dpkg-buildpackage wants debian/ at the top of a source tree and writes next
# to it, so this copies the checkout (tracked and untracked-but-not-ignored
# files; no build directories) into a temporary directory, adds debian/ from
# packaging/debian plus a changelog carrying the version from CMakeLists.txt's
# project(hellod VERSION x.y.z), builds there, and copies only the .deb out.
# The source tree is never written to.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
source_dir=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out_dir=$(cd "$1" && pwd)

"$source_dir/scripts/install-deps.sh" package

version=$(sed -n 's/^project(hellod VERSION \([0-9][0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
if [[ -z "$version" ]]; then
  echo "$0: no 'project(hellod VERSION x.y.z' in $source_dir/CMakeLists.txt" >&2
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/hellod-deb.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT
stage="$work_dir/hellod-$version"
mkdir -p "$stage"

# Copy the source tree without build output (a "clean checkout").
if git -C "$source_dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files plus new ones not yet committed; a tracked file deleted in
  # the work tree is skipped (--ignore-failed-read).
  (cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf -) | tar -C "$stage" -xf -
else
  tar -C "$source_dir" --exclude='./build*' --exclude=./.git --exclude=./out -cf - . |
    tar -C "$stage" -xf -
fi
rm -rf "$stage/debian"
cp -a "$source_dir/packaging/debian" "$stage/debian"

# The changelog is generated so the package version always follows CMake's.
# Its date is the last commit's, so rebuilding the same commit gives the same
# changelog (reproducible builds).
changelog_date=$(git -C "$source_dir" log -1 --format=%aD 2>/dev/null || date -R)
maintainer=$(sed -n 's/^Maintainer: //p' "$stage/debian/control")
cat >"$stage/debian/changelog" <<EOF
hellod ($version) unstable; urgency=medium

  * hellod $version, built from the project's source tree by
    packaging/build-deb.sh.

 -- $maintainer  $changelog_date
EOF

# noddebs: no -dbgsym package; parallel: the build machine is shared.
export DEB_BUILD_OPTIONS="noddebs parallel=${HELLOD_BUILD_JOBS:-2} ${DEB_BUILD_OPTIONS:-}"
(cd "$stage" && dpkg-buildpackage -b -us -uc --no-sign) >"$work_dir/build.log" 2>&1 || {
  tail -n 60 "$work_dir/build.log" >&2
  echo "$0: dpkg-buildpackage failed (log above)" >&2
  exit 1
}

deb="$work_dir/hellod_${version}_${arch}.deb"
if [[ ! -f "$deb" ]]; then
  echo "$0: dpkg-buildpackage did not produce $(basename "$deb")" >&2
  ls "$work_dir" >&2
  exit 1
fi
cp "$deb" "$out_dir/"
echo "$out_dir/$(basename "$deb")"
