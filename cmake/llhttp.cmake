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

# An object library: its objects go into hellod_core's archive, next to the
# hooks it calls (below), so the linker finds them whichever it meets first.
add_library(llhttp OBJECT ${LLHTTP_API_C} ${LLHTTP_HTTP_C} ${LLHTTP_LLHTTP_C})
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
# Strict mode checks the CRLF after chunk data and takes only CRLF as a line
# end; the loose default lets request-smuggling shapes through (RFC 9112 §7.1).
# PUBLIC, so every file that includes llhttp.h sees the same setting.
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# llhttp's generated parser calls hooks named llhttp__on_<event>; api.c
# defines them to dispatch through llhttp_settings_t function pointers.
# hellod defines the hooks itself (src/request_callbacks.cpp) as direct calls,
# so api.c's are renamed out of the way here and dropped by the linker. The
# list is every hook llhttp 8.1 calls; a hook a later llhttp adds is not
# renamed and keeps api.c's definition.
set(llhttp_hooks
  message_begin url url_complete status status_complete method method_complete version
  version_complete header_field header_field_complete header_value header_value_complete
  headers_complete message_complete body chunk_header chunk_extension_name
  chunk_extension_name_complete chunk_extension_value chunk_extension_value_complete
  chunk_complete reset)
foreach(hook IN LISTS llhttp_hooks)
  set_property(SOURCE ${LLHTTP_API_C} APPEND PROPERTY
    COMPILE_DEFINITIONS llhttp__on_${hook}=llhttp_api_unused_on_${hook})
endforeach()
# Generated code: its own warnings are not ours to fix.
target_compile_options(llhttp PRIVATE -w)
