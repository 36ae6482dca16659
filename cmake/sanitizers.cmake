# HELLOD_SANITIZE applies to every target, llhttp included, so that the
# instrumentation sees the whole request path.
if(HELLOD_SANITIZE)
  if(NOT HELLOD_SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
    message(FATAL_ERROR "HELLOD_SANITIZE must be 'address,undefined' or 'thread', got '${HELLOD_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${HELLOD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${HELLOD_SANITIZE})
endif()
