# SPDX-License-Identifier: MIT
# The compiler flags hellod's package is built with, for dpkg-buildflags:
# debian/rules includes this, and bench/run.sh builds with the same flags,
# so the benchmark measures the binary the package installs.
#
# Debian's hardening, and -O3 after dpkg-buildflags' -O2 (the later flag
# wins): measured side by side (bench/side_by_side.py, 6 pairs), the -O2
# build answered 3.5% fewer pipelined requests per CPU-second than the
# same build at -O3, and keep-alive the same within the method's noise.
export DEB_BUILD_MAINT_OPTIONS = hardening=+all
export DEB_CFLAGS_MAINT_APPEND = -O3
export DEB_CXXFLAGS_MAINT_APPEND = -O3
