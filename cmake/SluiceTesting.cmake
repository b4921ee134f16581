find_package(GTest)
sluice_require(GTest_FOUND "GoogleTest and GoogleMock (for the tests)" "libgtest-dev libgmock-dev")
include(GoogleTest)

# sluice_add_test(NAME LABEL unit|integration|robustness SOURCES ... [LIBS ...] [TIMEOUT s] [SERIAL])
# Builds one GoogleTest executable and registers it as ONE ctest test (so a
# fixture's setup, e.g. a mock cluster, is paid once per executable).
function(sluice_add_test name)
  cmake_parse_arguments(T "SERIAL" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    message(FATAL_ERROR "sluice_add_test(${name}): LABEL is required")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  # Sanitizer builds are Debug and instrumented: the same work takes a few times longer.
  if(SLUICE_SANITIZER STREQUAL "address")
    math(EXPR T_TIMEOUT "${T_TIMEOUT} * 3")
  elseif(SLUICE_SANITIZER STREQUAL "thread")
    math(EXPR T_TIMEOUT "${T_TIMEOUT} * 5")
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main GTest::gmock ${T_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
  # Test code is compiled for the compiler's sake, not for speed (-Og after the build type's
  # -O2: about 3x less compile time per test source; the host under test stays -O2).
  target_compile_options(${name} PRIVATE $<$<CONFIG:RelWithDebInfo,Release>:-Og>)
  target_compile_definitions(${name} PRIVATE
    SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    SLUICE_BINARY_DIR="${CMAKE_BINARY_DIR}"
    SLUICE_PLUGIN_OUTPUT_DIR="${SLUICE_PLUGIN_OUTPUT_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
  # SERIAL: the tests that start several hosts and kill them run one at a time; a lighter test
  # may run beside one (RUN_SERIAL left a core idle for ~8 of the suite's ~11 minutes).
  if(T_SERIAL)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK sluice_heavy)
  endif()
endfunction()
