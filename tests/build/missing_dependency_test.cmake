# For each dependency, hide it from a fresh configure and check that the configure fails with a
# message naming the Debian package (not a silently smaller build).
# cmake -DSOURCE_DIR=... -DSCRATCH_DIR=... -P missing_dependency_test.cmake
set(cases
  "-DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON|libspdlog-dev"
  "-DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON|nlohmann-json3-dev"
  "-DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON|libboost-program-options-dev"
  "-DCMAKE_DISABLE_FIND_PACKAGE_ZooKeeper=ON|libzookeeper-mt-dev"
  "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON|libgtest-dev"
  "-DPKG_CONFIG_EXECUTABLE=/bin/false|pkg-config")
set(i 0)
foreach(case IN LISTS cases)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts -1 package)
  list(REMOVE_AT parts -1)
  set(dir ${SCRATCH_DIR}/${i})
  file(REMOVE_RECURSE ${dir})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${dir} -DSLUICE_BUILD_BENCH=OFF ${parts}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "configure with ${parts} succeeded: a missing dependency must stop it")
  endif()
  string(REGEX REPLACE "[ \t\r\n]+" " " err "${err}")  # CMake wraps its messages
  string(FIND "${err}" "install the Debian package" at)
  string(FIND "${err}" "${package}" named)
  if(at EQUAL -1 OR named EQUAL -1)
    message(FATAL_ERROR "configure with ${parts} failed without naming ${package}:\n${err}")
  endif()
  message(STATUS "${parts}: stops, naming ${package}")
  file(REMOVE_RECURSE ${dir})
  math(EXPR i "${i} + 1")
endforeach()
