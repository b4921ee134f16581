# cmake -DPAGE=sluice-run -DFILE=sluice-run.1 -P man_page_title.cmake
# help2man names and titles every page after the program (sluice); a command's page is named
# and titled after itself, as git-commit(1) is.
file(READ ${FILE} text)
string(TOUPPER ${PAGE} upper)
string(REGEX REPLACE "\n\\.TH SLUICE " "\n.TH ${upper} " text "${text}")
string(REGEX REPLACE "\n\\.SH NAME\nsluice \\\\- " "\n.SH NAME\n${PAGE} \\\\- " text "${text}")
file(WRITE ${FILE} "${text}")
