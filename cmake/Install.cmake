# What `make install` / `cmake --install` puts under the prefix:
#   include/ptools/*.h, lib/libptools.{so,a}, lib/pkgconfig/ptools.pc,
#   lib/cmake/ptools/ (ptoolsConfig.cmake with the ptools:: targets and
#   ptoolsHelpers.cmake), share/man/man{1,5}/; ptrun and the shipped
#   kernels and plugins add their own rules (runner/, kernels/, plugins/).
# Everything is relocatable: ptools.pc and the CMake package find their
# paths from where they are, so a DESTDIR or a `dpkg -x` copy works too.
install(DIRECTORY include/ptools DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ptools ptools_static ptools_kernel EXPORT ptoolsTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT ptoolsTargets NAMESPACE ptools::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ptools)

include(CMakePackageConfigHelpers)
configure_package_config_file(cmake/ptoolsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ptoolsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ptools)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ptoolsConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ptoolsConfig.cmake
              ${PROJECT_BINARY_DIR}/ptoolsConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/ptoolsHelpers.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ptools)

# pkg-config: Libs.private is what the static libptools.a needs beyond
# libc (-ldl where dlopen is not in libc); it uses neither jansson nor
# libyaml (ptrun and the plugins do).
file(RELATIVE_PATH PC_PREFIX_FROM_PCDIR
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
set(PC_LIBS_PRIVATE)
foreach(lib ${CMAKE_DL_LIBS})
  string(APPEND PC_LIBS_PRIVATE " -l${lib}")
endforeach()
string(STRIP "${PC_LIBS_PRIVATE}" PC_LIBS_PRIVATE)
configure_file(cmake/ptools.pc.in ${PROJECT_BINARY_DIR}/ptools.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ptools.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages: every section-1 and section-5 page under docs/ or man/.
file(GLOB PTOOLS_MAN1 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.1
                                        ${PROJECT_SOURCE_DIR}/man/*.1)
file(GLOB PTOOLS_MAN5 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.5
                                        ${PROJECT_SOURCE_DIR}/man/*.5)
install(FILES ${PTOOLS_MAN1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
if(PTOOLS_MAN5)
  install(FILES ${PTOOLS_MAN5} DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
endif()
