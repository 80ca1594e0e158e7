# Cross build for AArch64 Linux with Debian's g++-aarch64-linux-gnu; executables (tests, Catch2 test
# discovery) run through qemu-user. Usage:
#   cmake -S . -B build/arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DVARNORM_WITH_TBB=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(varnorm_cross_triple aarch64-linux-gnu)
set(varnorm_cross_sysroot /usr/${varnorm_cross_triple})

set(CMAKE_C_COMPILER ${varnorm_cross_triple}-gcc)
set(CMAKE_CXX_COMPILER ${varnorm_cross_triple}-g++)
find_program(varnorm_qemu qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${varnorm_qemu} -L ${varnorm_cross_sysroot})

# Libraries, headers and packages come only from the target's root, never from the build machine's /usr
# (x86-64 glibc headers there would shadow the target's). Programs (nm, ninja) are the build machine's.
set(CMAKE_FIND_ROOT_PATH ${varnorm_cross_sysroot})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Catch2 v2 and xsimd are header-only and the same for every target, but Debian installs them for the
# build machine only. Rather than opening all of /usr/include to the cross compiler, expose just those two
# packages through a second, minimal root that mirrors a multiarch AArch64 install: their headers, and their
# CMake config files placed where find_package looks for an aarch64-linux-gnu package (the config files
# compute their prefix from where they are, so their include directory is this root's usr/include).
# try_compile projects (compiler checks) need neither and skip this.
get_property(varnorm_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT varnorm_in_try_compile)
  set(varnorm_header_root ${CMAKE_BINARY_DIR}/host-header-packages)
  # Config files matching `skip_pattern` are left out.
  function(varnorm_expose_host_package include_dir config_dir mirrored_config_dir skip_pattern)
    if(NOT EXISTS ${include_dir} OR NOT IS_DIRECTORY ${config_dir})
      return()  # not installed: find_package reports the package as missing, as it would natively
    endif()
    get_filename_component(name ${include_dir} NAME)
    file(MAKE_DIRECTORY ${varnorm_header_root}/usr/include ${varnorm_header_root}/${mirrored_config_dir})
    file(CREATE_LINK ${include_dir} ${varnorm_header_root}/usr/include/${name} SYMBOLIC)
    # File links in a real directory: a linked directory would resolve back to the host prefix.
    file(GLOB config_files ${config_dir}/*.cmake)
    foreach(file IN LISTS config_files)
      get_filename_component(file_name ${file} NAME)
      if(skip_pattern AND file_name MATCHES "${skip_pattern}")
        continue()
      endif()
      file(CREATE_LINK ${file} ${varnorm_header_root}/${mirrored_config_dir}/${file_name} SYMBOLIC)
    endforeach()
  endfunction()
  # Debian's Catch2 also ships an x86-64 libCatch2WithMain.a, named by Catch2Targets-<config>.cmake; it
  # cannot link into an AArch64 program, so that file is left out: Catch2::Catch2WithMain then has no
  # library (using it fails), the header-only Catch2::Catch2 that varnorm's tests use works.
  varnorm_expose_host_package(/usr/include/catch2 /usr/lib/cmake/Catch2 usr/lib/cmake/Catch2
                              "^Catch2Targets-.*\\.cmake$")
  varnorm_expose_host_package(/usr/include/xsimd /usr/lib/x86_64-linux-gnu/cmake/xsimd
                              usr/lib/${varnorm_cross_triple}/cmake/xsimd "")
  list(APPEND CMAKE_FIND_ROOT_PATH ${varnorm_header_root})
endif()
