# ptools_module(TARGET NAME SOURCE OUTPUT_DIR [INSTALL_DIR])
# A kernel or plugin shared object: NAME.so in OUTPUT_DIR, built from SOURCE
# against the public headers only (ptools::kernel; users have
# ptools_add_kernel, cmake/ptoolsHelpers.cmake). It links nothing, not even
# libptools (the shipped plugins add it and jansson: plugins/): -z defs
# proves it at link time (only what it links may remain undefined; in the
# sanitizer build the runtimes come from the host process).
function(ptools_module target name source outdir)
  add_library(${target} MODULE ${source})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name} PREFIX "" SUFFIX ".so"
    LIBRARY_OUTPUT_DIRECTORY ${outdir})
  target_link_libraries(${target} PRIVATE ptools_kernel ptools_warnings)
  if(NOT PTOOLS_SANITIZE)
    target_link_options(${target} PRIVATE LINKER:-z,defs)
  endif()
  if(ARGC GREATER 4)
    install(TARGETS ${target} LIBRARY DESTINATION ${ARGV4})
  endif()
endfunction()
