#pragma once
// directory_snapshot(): what is under a directory, to prove that a step changed nothing there.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

namespace sluice::test {

/// Every file under root (by path relative to root) with its bytes, and every directory
/// (as "<dir>"). Two snapshots are equal when nothing under root was created, removed or
/// changed in between.
inline std::map<std::string, std::string> directory_snapshot(const std::filesystem::path &root) {
    std::map<std::string, std::string> files;
    for (const auto &e : std::filesystem::recursive_directory_iterator(root)) {
        std::string bytes = "<dir>";
        if (!e.is_directory()) {
            std::ifstream in(e.path(), std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        files[std::filesystem::relative(e.path(), root).string()] = std::move(bytes);
    }
    return files;
}

}  // namespace sluice::test
