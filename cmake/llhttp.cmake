# SPDX-License-Identifier: MIT
# llhttp comes as C sources in Debian's node-llhttp package; we compile them
# into a small static library instead of writing our own HTTP parser.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_API_C api.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_HTTP_C http.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_LLHTTP_C llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_API_C OR NOT LLHTTP_HTTP_C OR NOT LLHTTP_LLHTTP_C)
  message(FATAL_ERROR
    "llhttp sources not found (/usr/share/llhttp/{api,http,llhttp}.c and "
    "/usr/share/include/llhttp/llhttp.h). Install the Debian package node-llhttp: "
    "apt-get install node-llhttp")
endif()

add_library(llhttp STATIC ${LLHTTP_API_C} ${LLHTTP_HTTP_C} ${LLHTTP_LLHTTP_C})
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
# Strict mode checks the CRLF after chunk data and takes only CRLF as a line
# end; the loose default lets request-smuggling shapes through (RFC 9112 §7.1).
# PUBLIC, so every file that includes llhttp.h sees the same setting.
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# Generated code: its own warnings are not ours to fix.
target_compile_options(llhttp PRIVATE -w)
