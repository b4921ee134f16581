# Every dependency comes from Debian 12's packages (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# Boost.DLL is header-only; with BOOST_DLL_USE_STD_FS it needs only libdl.
add_library(sluice_boost_dll INTERFACE)
target_link_libraries(sluice_boost_dll INTERFACE Boost::headers ${CMAKE_DL_LIBS})
target_compile_definitions(sluice_boost_dll INTERFACE BOOST_DLL_USE_STD_FS)

# The ZooKeeper C client ships no pkg-config file.
find_path(ZOOKEEPER_INCLUDE_DIR zookeeper/zookeeper.h)
find_library(ZOOKEEPER_MT_LIBRARY zookeeper_mt)
if(ZOOKEEPER_INCLUDE_DIR AND ZOOKEEPER_MT_LIBRARY)
  add_library(sluice_zookeeper INTERFACE)
  target_include_directories(sluice_zookeeper INTERFACE ${ZOOKEEPER_INCLUDE_DIR})
  target_link_libraries(sluice_zookeeper INTERFACE ${ZOOKEEPER_MT_LIBRARY})
  target_compile_definitions(sluice_zookeeper INTERFACE THREADED)
endif()
