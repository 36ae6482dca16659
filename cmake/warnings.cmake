# SPDX-License-Identifier: MIT
# Warnings are set per target, never globally, so third-party code (llhttp)
# keeps its own flags.
function(hellod_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wnull-dereference)
  if(HELLOD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
