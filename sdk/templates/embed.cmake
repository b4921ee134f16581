# cmake -DTEMPLATE_DIR=<sdk/templates/plugin> -DOUTPUT=<file.inc> -P embed.cmake
#
# Writes OUTPUT, included by host/app/new_plugin_command.cpp (`sluice new-plugin`): every file
# under TEMPLATE_DIR as a byte array, and kTemplateFiles[] = {path relative to TEMPLATE_DIR,
# bytes, size}. Run at build time by host/app/CMakeLists.txt, so editing a template rebuilds the
# binary. Bytes rather than string literals: a template may hold any character.
file(GLOB_RECURSE _files RELATIVE ${TEMPLATE_DIR} ${TEMPLATE_DIR}/*)
list(SORT _files)
set(_out "// Generated from sdk/templates/plugin by sdk/templates/embed.cmake: do not edit.\n")
set(_index 0)
set(_table "")
foreach(_file ${_files})
  file(READ ${TEMPLATE_DIR}/${_file} _hex HEX)
  string(LENGTH "${_hex}" _len)
  math(EXPR _size "${_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
  string(APPEND _out "static const unsigned char kFile${_index}[] = {\n${_bytes}0};\n")
  string(APPEND _table "    {\"${_file}\", kFile${_index}, ${_size}},\n")
  math(EXPR _index "${_index} + 1")
endforeach()
string(APPEND _out "\nconst TemplateFile kTemplateFiles[] = {\n${_table}};\n")
file(WRITE ${OUTPUT} "${_out}")
