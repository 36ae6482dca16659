#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian package of hellod: hellod_<version>_<arch>.deb into OUTDIR
# and nothing else.
#
# Usage: packaging/build-deb.sh OUTDIR [VERSION]
#
# VERSION (e.g. 0.1.1~test) sets the package's version and what `hellod -V`
# prints; without it, the version of CMakeLists.txt's project(hellod VERSION
# x.y.z). Tests outside the repository call this interface: keep it.
#
# dpkg-buildpackage wants debian/ at the top of a source tree and writes next
# to it, so this copies the checkout (tracked and untracked-but-not-ignored
# files; no build directories) into a temporary directory, adds debian/ from
# packaging/debian plus a changelog carrying the version, builds there, and
# copies only the .deb out. The source tree is never written to.
#
# HELLOD_DEB_BUILD_DIR=DIR (optional, for tests that build several versions
# of one tree): stage and build in DIR instead of a temporary directory and
# keep CMake's build directory there between runs, so a second build only
# recompiles what changed (the version: one file). Everything else in DIR is
# replaced on every run.
set -euo pipefail

if (($# < 1 || $# > 2)); then
  echo "usage: $0 OUTDIR [VERSION]" >&2
  exit 2
fi
source_dir=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out_dir=$(cd "$1" && pwd)

"$source_dir/scripts/install-deps.sh" package

if (($# == 2)); then
  version=$2
  # A native package's version: no Debian revision (no '-'), and nothing that
  # could not stand in a C++ string literal (see HELLOD_VERSION in CMake).
  if [[ ! "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
    echo "$0: VERSION '$version' is not of the form 1.2.3, 1.2.3~rc1 or 1.2.3+x" >&2
    exit 2
  fi
else
  version=$(sed -n 's/^project(hellod VERSION \([0-9][0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
  if [[ -z "$version" ]]; then
    echo "$0: no 'project(hellod VERSION x.y.z' in $source_dir/CMakeLists.txt" >&2
    exit 1
  fi
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
# debhelper's cmake build directory (compat 13): obj-<GNU host type>.
obj_dir=obj-$(dpkg-architecture -qDEB_HOST_GNU_TYPE)

if [[ -n "${HELLOD_DEB_BUILD_DIR:-}" ]]; then
  mkdir -p "$HELLOD_DEB_BUILD_DIR"
  work_dir=$(cd "$HELLOD_DEB_BUILD_DIR" && pwd)
  # A fixed stage path, so CMake's cache (which records it) stays valid.
  stage="$work_dir/hellod"
  mkdir -p "$stage"
  find "$stage" -mindepth 1 -maxdepth 1 ! -name "$obj_dir" -exec rm -rf {} +
  rm -f "$work_dir"/hellod_*.deb "$work_dir"/hellod_*.buildinfo "$work_dir"/hellod_*.changes
  # Keep CMake's build directory: dpkg-buildpackage must not clean first.
  no_pre_clean=(--no-pre-clean)
else
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/hellod-deb.XXXXXX")
  trap 'rm -rf "$work_dir"' EXIT
  stage="$work_dir/hellod-$version"
  mkdir -p "$stage"
  no_pre_clean=()
fi

# Copy the source tree without build output (a "clean checkout"). tar keeps
# each file's modification time, so a kept build directory rebuilds only
# what changed.
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

# The changelog is generated so the package version follows CMake's (or the
# VERSION argument); debian/rules passes it on to CMake as HELLOD_VERSION.
# Its date is the last commit's, so rebuilding the same commit gives the same
# changelog (reproducible builds).
changelog_date=$(git -C "$source_dir" log -1 --format=%aD 2>/dev/null || date -R)
maintainer=$(sed -n 's/^Maintainer: //p' "$stage/debian/control")
cat >"$stage/debian/changelog" <<CHANGELOG
hellod ($version) unstable; urgency=medium

  * hellod $version, built from the project's source tree by
    packaging/build-deb.sh.

 -- $maintainer  $changelog_date
CHANGELOG

# noddebs: no -dbgsym package; parallel: the build machine is shared.
export DEB_BUILD_OPTIONS="noddebs parallel=${HELLOD_BUILD_JOBS:-2} ${DEB_BUILD_OPTIONS:-}"
(cd "$stage" && dpkg-buildpackage -b -us -uc --no-sign "${no_pre_clean[@]}") \
  >"$work_dir/build.log" 2>&1 || {
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
