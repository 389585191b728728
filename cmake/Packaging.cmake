# The Debian package (make deb: CPack's DEB generator in build-deb/).
#   ptools      libptools (.so, .a), headers, ptools.pc, the CMake package,
#               ptrun, the shipped kernels and plugins, man pages
#   ptools-mpi  ptrun-mpi, when MPI was found (its own package, so that
#               ptools does not pull in Open MPI)
# Depends come from dpkg-shlibdeps (dpkg-dev) when it is there, else from
# the list below (what ptrun, libptools and the plugins link).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ptools)
set(CPACK_PACKAGE_VENDOR ptools)
set(PTOOLS_DEB_MAINTAINER "ptools maintainers <ptools@localhost>" CACHE STRING
  "The Maintainer field of the Debian packages (make deb)")
set(CPACK_PACKAGE_CONTACT "${PTOOLS_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "parallel batch computation on one multi-core machine (libptools, ptrun)")
set(CPACK_PACKAGE_DESCRIPTION
  "libptools: worker sets of forked processes, pfork, server tasks, typed
shared memory and a priority queue of tasks, in C11; ptrun runs YAML job
specs of kernel .so files with it.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# A shlibs file, and an ldconfig trigger so that libptools.so.0 is found
# in the multiarch libdir right after `apt install`.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING IGNORE)
set(CPACK_DEBIAN_PTOOLS_PACKAGE_NAME ptools)
set(CPACK_DEBIAN_MPI_PACKAGE_NAME ptools-mpi)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_COMPONENT_MPI_DEPENDS ptools)
set(CPACK_COMPONENT_MPI_DESCRIPTION "ptrun-mpi: ptrun under mpirun (Open MPI)")
set(CPACK_COMPONENTS_ALL ptools)
if(TARGET ptrun-mpi)
  list(APPEND CPACK_COMPONENTS_ALL mpi)
endif()

find_program(PTOOLS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(PTOOLS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # Plugins find libptools.so.0 in the package itself (RPATH $ORIGIN/../..).
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
      ${PROJECT_BINARY_DIR})
else()
  set(CPACK_DEBIAN_PTOOLS_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libyaml-0-2 (>= 0.2.5), libjansson4 (>= 2.14), libnettle8 (>= 3.8)")
  set(CPACK_DEBIAN_MPI_PACKAGE_DEPENDS "libopenmpi3")
endif()
include(CPack)
