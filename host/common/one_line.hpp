#pragma once
// Text a user gave, made safe to quote inside a one-line message: control characters (a newline
// in a shell-quoted value, a tab, an escape sequence) are shown as \n, \r, \t or \xNN, so an
// error stays one line and cannot move the terminal's cursor. Bytes from 0x80 on are kept (UTF-8
// paths and names read as written). Pure; any thread.

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace sluice {

inline std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += ch;
    }
    return out;
}

}  // namespace sluice
