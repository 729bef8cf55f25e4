# Imported targets for the small libraries when they come as extracted Debian packages under
# USBENCH_DEPS_PREFIX (.ci/gpu-deps fills it; .ci/gpu-check extracts it on a machine that has LibTorch,
# CMake and a compiler but none of these -dev packages). The header-only libraries need nothing else;
# fmt is used header-only (FMT_HEADER_ONLY), so no libfmt is linked; SQLite and OpenSSL link against the
# machine's own runtime libraries (libsqlite3.so.0, libcrypto.so.3) and fall back to the carried ones.
set(_deps ${USBENCH_DEPS_PREFIX}/usr)
set(_inc ${_deps}/include)
set(_multiarch ${_inc}/${CMAKE_LIBRARY_ARCHITECTURE})
if(NOT CMAKE_LIBRARY_ARCHITECTURE)
  set(_multiarch ${_inc}/x86_64-linux-gnu)
endif()
foreach(header nlohmann/json.hpp fmt/format.h CLI/CLI.hpp sqlite3.h openssl/sha.h zlib.h catch2/catch.hpp)
  if(NOT EXISTS ${_inc}/${header})
    message(FATAL_ERROR "USBENCH_DEPS_PREFIX=${USBENCH_DEPS_PREFIX} has no ${_inc}/${header}: fill it with .ci/gpu-deps")
  endif()
endforeach()

function(_usbench_carried_target name)
  add_library(${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_inc};${_multiarch}" ${ARGN})
endfunction()

_usbench_carried_target(nlohmann_json::nlohmann_json)
_usbench_carried_target(CLI11::CLI11)
_usbench_carried_target(fmt::fmt INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
_usbench_carried_target(Catch2::Catch2)
set(Catch2_FOUND TRUE CACHE INTERNAL "")
list(APPEND CMAKE_MODULE_PATH ${_deps}/lib/cmake/Catch2)  # Catch.cmake, for catch_discover_tests

# The runtime library of the machine first (soname), then the carried package's copy.
function(_usbench_runtime_library var soname)
  find_library(${var} NAMES ${soname} PATHS ${_deps}/lib/x86_64-linux-gnu ${_deps}/lib NO_CACHE)
  if(NOT ${var})
    message(FATAL_ERROR "no ${soname} on this machine or under ${_deps}/lib: fill USBENCH_DEPS_PREFIX with .ci/gpu-deps")
  endif()
  message(STATUS "usbench: ${soname} from ${${var}}")
  set(${var} ${${var}} PARENT_SCOPE)
endfunction()
_usbench_runtime_library(_sqlite libsqlite3.so.0)
_usbench_runtime_library(_crypto libcrypto.so.3)
_usbench_carried_target(SQLite::SQLite3 INTERFACE_LINK_LIBRARIES ${_sqlite})
_usbench_carried_target(OpenSSL::Crypto INTERFACE_LINK_LIBRARIES ${_crypto})
_usbench_runtime_library(_zlib libz.so.1)
_usbench_carried_target(ZLIB::ZLIB INTERFACE_LINK_LIBRARIES ${_zlib})
set(ZLIB_FOUND TRUE CACHE INTERNAL "")
