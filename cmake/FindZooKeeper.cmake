# FindZooKeeper: the ZooKeeper C client (Debian libzookeeper-mt-dev), which ships no pkg-config
# file or CMake package. Defines ZooKeeper_FOUND and the target ZooKeeper::zookeeper_mt (the
# threaded flavour, which needs -DTHREADED).
find_path(ZOOKEEPER_INCLUDE_DIR zookeeper/zookeeper.h)
find_library(ZOOKEEPER_MT_LIBRARY zookeeper_mt)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeper REQUIRED_VARS ZOOKEEPER_MT_LIBRARY ZOOKEEPER_INCLUDE_DIR)
if(ZooKeeper_FOUND AND NOT TARGET ZooKeeper::zookeeper_mt)
  add_library(ZooKeeper::zookeeper_mt INTERFACE IMPORTED)
  target_include_directories(ZooKeeper::zookeeper_mt INTERFACE ${ZOOKEEPER_INCLUDE_DIR})
  target_link_libraries(ZooKeeper::zookeeper_mt INTERFACE ${ZOOKEEPER_MT_LIBRARY})
  target_compile_definitions(ZooKeeper::zookeeper_mt INTERFACE THREADED)
endif()
