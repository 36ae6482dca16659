# SPDX-License-Identifier: MIT
# HELLOD_SANITIZE applies to every target, llhttp included, so that the
# instrumentation sees the whole request path.
if(HELLOD_SANITIZE)
  if(NOT HELLOD_SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
    message(FATAL_ERROR "HELLOD_SANITIZE must be 'address,undefined' or 'thread', got '${HELLOD_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${HELLOD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  # -O1, as the ASan and TSan documentation suggest, over the build type's
  # -O2: the checks are the same and the instrumented build takes a third
  # less time (CI builds twice with sanitizers). Line tables (-g1) are all a
  # report's stack needs; full debug info cost up to 30% more per file
  # (metrics_listener.cpp under ASan: 16.0 s against 11.3 s).
  add_compile_options(-O1 -g1)
  # The invariants asserted in the code (a connection in one deadline list,
  # ordered lists, an empty batch between callbacks) are checked here too.
  add_compile_options(-UNDEBUG)
  add_link_options(-fsanitize=${HELLOD_SANITIZE})
  # GCC's -Wmaybe-uninitialized gives false positives on instrumented code
  # (its documentation warns that sanitizers change the flow analysis); here
  # in libstdc++'s std::function inside std::regex. Explicit -Wno- wins over
  # the -Wall that hellod_warnings adds later.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

# HELLOD_FUZZ instruments every target for libFuzzer's coverage feedback
# (fuzzer-no-link) together with ASan+UBSan, so hellod_core and llhttp are
# both explored and checked; only the fuzz targets link libFuzzer itself
# (tests/fuzz/CMakeLists.txt). libFuzzer ships with clang only.
if(HELLOD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HELLOD_FUZZ needs clang: configure with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(HELLOD_SANITIZE)
    message(FATAL_ERROR "HELLOD_FUZZ already builds with address,undefined; leave HELLOD_SANITIZE empty")
  endif()
  # -O0: CI fuzzes for a bounded minute after replaying the corpus, and
  # clang compiles the instrumented sources in half the time without
  # optimization (metrics_listener.cpp: 5.6 s against 11.9 s at -O2; -O1
  # saves nothing), which is a minute of CI's 25; the minute fuzzes fewer
  # inputs in exchange.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all -UNDEBUG -O0)
  add_link_options(-fsanitize=address,undefined)
endif()
