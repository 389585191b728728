# Helpers for projects that find_package(ptools): build kernels and result
# plugins the way ptrun loads them (installed beside ptoolsConfig.cmake,
# which includes this file).
#
#   ptools_add_kernel(NAME SOURCES...)
#     NAME.so, a MODULE built against the headers only (ptools::kernel): a
#     kernel reaches the library through its pt_ctx, so it links nothing.
#   ptools_add_plugin(NAME SOURCES...)
#     NAME.so, a MODULE linked to the shared libptools (ptools::ptools): a
#     plugin may call the library (pt_vdec, pt_value_to_json, ...).
#
# Both are ordinary targets: add sources, libraries or an install() rule
# as for any other. Only PT_KERNELS / PT_PLUGIN are exported from the .so
# (hidden visibility): the loader needs nothing else.

function(_ptools_add_module kind name)
  if(ARGC LESS 3)
    message(FATAL_ERROR "ptools_add_${kind}(${name} SOURCES...): no sources")
  endif()
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES
    PREFIX "" SUFFIX ".so" OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON POSITION_INDEPENDENT_CODE ON)
endfunction()

function(ptools_add_kernel name)
  _ptools_add_module(kernel ${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ptools::kernel)
endfunction()

function(ptools_add_plugin name)
  _ptools_add_module(plugin ${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ptools::ptools)
endfunction()
