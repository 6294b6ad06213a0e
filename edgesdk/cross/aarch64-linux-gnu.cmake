# Cross-compiling the SDK (and the sample app) for 64-bit ARM Linux from an x86-64 Debian/Ubuntu
# machine with `g++-aarch64-linux-gnu` and the target's libraries from Debian multiarch
# (`dpkg --add-architecture arm64`; libssl-dev:arm64, libpng-dev:arm64, libjpeg62-turbo-dev:arm64):
#
#   cmake -S sample_app -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=$PWD/sdk/cpp/cmake/aarch64-linux-gnu.cmake \
#         <the runtime's package for aarch64, e.g. -DONNXRUNTIME_ROOT=... or -Dncnn_DIR=...>
#
# On the board itself, build natively and leave this file out.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# BOTH: multiarch libraries live under /usr/lib/aarch64-linux-gnu, outside the root path, and a
# runtime package may be anywhere (ONNXRUNTIME_ROOT, ncnn_DIR).
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# pkg-config (FindOpenSSL, FindPNG) must read the target's .pc files, not the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
