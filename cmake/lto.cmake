# SPDX-License-Identifier: MIT
# Link-time optimization for the builds that ship or measure hellod
# (scripts/run.sh, the .deb, bench/): across files it inlines the request
# path's small functions and llhttp's callback hooks, which took 15% off
# the instructions per keep-alive request (callgrind: 4,291 -> 3,641).
# Builds with tests leave it off by default: every test binary would pay for
# a whole-program link, and the sanitizers and the fuzzer need none of it.
if(BUILD_TESTING OR HELLOD_SANITIZE OR HELLOD_FUZZ)
  set(hellod_lto_default OFF)
else()
  set(hellod_lto_default ON)
endif()
option(HELLOD_LTO "Link-time optimization (default: on for builds without tests)" ${hellod_lto_default})
if(HELLOD_LTO)
  include(CheckIPOSupported)
  check_ipo_supported(RESULT hellod_lto_supported OUTPUT hellod_lto_error LANGUAGES C CXX)
  if(NOT hellod_lto_supported)
    message(FATAL_ERROR "HELLOD_LTO: the compiler cannot do link-time optimization: ${hellod_lto_error}")
  endif()
  set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
endif()
