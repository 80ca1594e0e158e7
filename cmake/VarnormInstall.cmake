# SPDX-License-Identifier: Apache-2.0
# Install rules: headers, libvarnorm.a, the CMake package (find_package(varnorm CONFIG) -> varnorm::varnorm)
# and varnorm.pc for pkg-config. Included by the top-level CMakeLists.txt when VARNORM_INSTALL is ON.
include(CMakePackageConfigHelpers)

# The package version comes from project(VERSION); varnorm_version() and the VARNORM_VERSION_* macros come
# from the header. A release that bumps one and not the other would install a package whose version file
# lies about the library inside it, so the two must agree before anything is generated.
function(varnorm_check_header_version header)
  file(STRINGS ${header} version_lines REGEX "^#define VARNORM_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(part MAJOR MINOR PATCH)
    set(value "")
    foreach(line IN LISTS version_lines)
      if(line MATCHES "^#define VARNORM_VERSION_${part} +([0-9]+)")
        set(value ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(value STREQUAL "")
      message(FATAL_ERROR "${header}: no VARNORM_VERSION_${part} definition")
    endif()
    list(APPEND header_version ${value})
  endforeach()
  list(JOIN header_version "." header_version)
  if(NOT header_version VERSION_EQUAL PROJECT_VERSION)
    message(FATAL_ERROR "${header} says version ${header_version} but project() says ${PROJECT_VERSION}: "
                        "update one of them")
  endif()
endfunction()
varnorm_check_header_version(${PROJECT_SOURCE_DIR}/include/varnorm/varnorm.h)

set(VARNORM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/varnorm CACHE STRING
    "Where the CMake package files go, relative to the install prefix")
set(VARNORM_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig CACHE STRING
    "Where varnorm.pc goes, relative to the install prefix")
mark_as_advanced(VARNORM_INSTALL_CMAKEDIR VARNORM_INSTALL_PKGCONFIGDIR)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/varnorm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT varnorm_development FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(TARGETS varnorm EXPORT varnormTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT varnorm_development)
install(EXPORT varnormTargets NAMESPACE varnorm:: DESTINATION ${VARNORM_INSTALL_CMAKEDIR}
        COMPONENT varnorm_development)

# libvarnorm.a is C++: a program linked by the C compiler needs the C++ runtime that a C++ link would add,
# i.e. the libraries the C++ compiler links implicitly and the C compiler does not (libstdc++ and libm for
# GCC; libc++ for clang with -stdlib=libc++). Both the CMake package (for C-only projects) and the
# pkg-config file (always) name them.
set(VARNORM_CXX_RUNTIME_LIBRARIES "")
foreach(lib IN LISTS CMAKE_CXX_IMPLICIT_LINK_LIBRARIES)
  if(NOT lib IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES AND NOT lib IN_LIST VARNORM_CXX_RUNTIME_LIBRARIES)
    list(APPEND VARNORM_CXX_RUNTIME_LIBRARIES ${lib})
  endif()
endforeach()

# pkg-config: the C++ runtime, plus the thread library where libc lacks pthreads (empty on glibc >= 2.34).
list(TRANSFORM VARNORM_CXX_RUNTIME_LIBRARIES PREPEND "-l" OUTPUT_VARIABLE VARNORM_PC_LIBS_PRIVATE)
set(THREADS_PREFER_PTHREAD_FLAG OFF)
find_package(Threads REQUIRED)
if(CMAKE_THREAD_LIBS_INIT)
  list(APPEND VARNORM_PC_LIBS_PRIVATE ${CMAKE_THREAD_LIBS_INIT})
endif()
list(JOIN VARNORM_PC_LIBS_PRIVATE " " VARNORM_PC_LIBS_PRIVATE)
if(VARNORM_WITH_TBB)
  set(VARNORM_PC_REQUIRES_PRIVATE "tbb")
else()
  set(VARNORM_PC_REQUIRES_PRIVATE "")
endif()

# The .pc file locates the prefix from its own directory, so `cmake --install --prefix <anywhere>` and
# relocated trees work; absolute install directories are used as they are.
if(IS_ABSOLUTE "${VARNORM_INSTALL_PKGCONFIGDIR}")
  set(VARNORM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_to_prefix "/prefix/${VARNORM_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(VARNORM_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(VARNORM_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(VARNORM_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/varnorm.pc.in ${PROJECT_BINARY_DIR}/varnorm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/varnorm.pc DESTINATION ${VARNORM_INSTALL_PKGCONFIGDIR}
        COMPONENT varnorm_development)

# CMake package. The config template decides from VARNORM_WITH_TBB whether consumers need TBB too.
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/varnormConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/varnormConfig.cmake
                              INSTALL_DESTINATION ${VARNORM_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/varnormConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/varnormConfig.cmake ${PROJECT_BINARY_DIR}/varnormConfigVersion.cmake
        DESTINATION ${VARNORM_INSTALL_CMAKEDIR} COMPONENT varnorm_development)

# The license (Apache-2.0: varnorm_LICENSE in the CMake package, License in varnorm.pc) travels with the
# library it covers.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/NOTICE DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT varnorm_development)
