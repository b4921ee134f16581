# Included by host/metrics/CMakeLists.txt: the status page's files (assets.list) become one
# generated .cpp of sluice_metrics, rebuilt when any of them changes.
set(page_dir ${CMAKE_CURRENT_SOURCE_DIR}/page)
file(STRINGS ${page_dir}/assets.list page_lines)
set(page_files ${page_dir}/assets.list ${page_dir}/embed.cmake)
foreach(line IN LISTS page_lines)
  if(line MATCHES "^[^ #]+ ([^ ]+)$")
    list(APPEND page_files ${page_dir}/${CMAKE_MATCH_1})
  endif()
endforeach()
set(page_cpp ${CMAKE_CURRENT_BINARY_DIR}/page_assets.cpp)
add_custom_command(
  OUTPUT ${page_cpp}
  COMMAND ${CMAKE_COMMAND} -DPAGE_DIR=${page_dir} -DOUT=${page_cpp} -P ${page_dir}/embed.cmake
  DEPENDS ${page_files}
  COMMENT "Embedding the status page (host/metrics/page)")
target_sources(sluice_metrics PRIVATE ${page_cpp})
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${page_dir}/assets.list)
