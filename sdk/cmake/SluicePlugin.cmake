# sluice_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>])
#
# Builds a Sluice plugin as <name>.so with the flags the host expects:
# position-independent, hidden visibility (only the entry symbol is exported),
# and -fno-gnu-unique so that a reloaded C++ plugin is really unloaded.
function(sluice_add_plugin name)
  cmake_parse_arguments(P "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "sluice_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${P_SOURCES})
  if(NOT TARGET Sluice::sdk)
    message(FATAL_ERROR "sluice_add_plugin(${name}): the target Sluice::sdk is not defined: "
                        "call find_package(Sluice REQUIRED) before sluice_add_plugin()")
  endif()
  target_link_libraries(${name} PRIVATE Sluice::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>)
  endif()
  # Hidden visibility still exports the weak instantiations of libstdc++
  # templates (namespace std has default visibility); a version script makes
  # the entry symbol the library's only export, so nothing of one plugin can
  # interpose on another or on the host.
  if(UNIX AND NOT APPLE)
    set(_map ${CMAKE_BINARY_DIR}/sluice-plugin-exports.map)
    if(NOT EXISTS ${_map})
      file(WRITE ${_map} "{\n  global: sluice_plugin_entry;\n  local: *;\n};\n")
    endif()
    target_link_options(${name} PRIVATE "LINKER:--version-script=${_map}")
    set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${_map})
  endif()
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY})
  elseif(DEFINED SLUICE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SLUICE_PLUGIN_OUTPUT_DIR})
  endif()
endfunction()
