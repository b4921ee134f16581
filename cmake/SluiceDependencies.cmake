# Every dependency comes from Debian 12's packages (scripts/install-deps.sh installs them).
# A missing one stops the configure with the package to install: no target quietly disappears.

# sluice_require(<found-variable> <what> <debian-package>)
function(sluice_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR
      "Sluice needs ${what}: install the Debian package ${package} "
      "(apt-get install ${package}, or scripts/install-deps.sh)")
  endif()
endfunction()

find_package(PkgConfig)
sluice_require(PKG_CONFIG_FOUND "pkg-config" pkg-config)
find_package(Threads REQUIRED)
pkg_check_modules(RDKAFKA IMPORTED_TARGET rdkafka)
sluice_require(RDKAFKA_FOUND "librdkafka (pkg-config rdkafka)" librdkafka-dev)
# OpenSSL's libcrypto (SHA-256 of plugin files); librdkafka links it already, and Debian's
# librdkafka-dev depends on libssl-dev.
pkg_check_modules(CRYPTO IMPORTED_TARGET libcrypto)
sluice_require(CRYPTO_FOUND "OpenSSL's libcrypto (pkg-config libcrypto)" libssl-dev)
find_package(Boost 1.74 COMPONENTS program_options)
sluice_require(Boost_FOUND "Boost 1.74 with Boost.Program_options"
               "libboost-dev libboost-program-options-dev")
find_package(spdlog)
sluice_require(spdlog_FOUND "spdlog" libspdlog-dev)
find_package(nlohmann_json 3.10)
sluice_require(nlohmann_json_FOUND "nlohmann-json 3.10 or later" nlohmann-json3-dev)
pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
sluice_require(LIBPQ_FOUND "libpq, the PostgreSQL client library (pkg-config libpq)" libpq-dev)

# Boost.DLL is header-only; with BOOST_DLL_USE_STD_FS it needs only libdl.
add_library(sluice_boost_dll INTERFACE)
target_link_libraries(sluice_boost_dll INTERFACE Boost::headers ${CMAKE_DL_LIBS})
target_compile_definitions(sluice_boost_dll INTERFACE BOOST_DLL_USE_STD_FS)

# The ZooKeeper C client ships no pkg-config file (cmake/FindZooKeeper.cmake).
find_package(ZooKeeper)
sluice_require(ZooKeeper_FOUND "the ZooKeeper C client (zookeeper/zookeeper.h, libzookeeper_mt)"
               libzookeeper-mt-dev)
add_library(sluice_zookeeper INTERFACE)
target_link_libraries(sluice_zookeeper INTERFACE ZooKeeper::zookeeper_mt)
