#pragma once
// What the fuzz targets of tests/fuzz share: the invariant check (a broken one aborts, which
// libFuzzer reports as a finding), inputs that stand for several files, a scratch directory on
// tmpfs, and the main() of the seed generators.
//
// Each target is one NAME_fuzz.cpp defining LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize),
// built twice (tests/fuzz/CMakeLists.txt): with clang and libFuzzer (ASan, UBSan) as
// build/.../bin/NAME_fuzz, and with g++ into NAME_fuzz_seeds, whose NAME_fuzz_seeds.cpp writes
// seeds made by the real writers and runs each through the target once.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace sluice::fuzz {

namespace fs = std::filesystem;

/// An invariant the reader promises did not hold: prints it and aborts (a finding).
[[noreturn]] inline void broken(const char *target, const std::string &what) {
    std::fprintf(stderr, "%s: invariant broken: %s\n", target, what.c_str());
    std::abort();
}

/// Splits an input standing for several parts (files, arguments) at `separator`, into at
/// most `max_parts` (the last keeps any further separators).
inline std::vector<std::string_view> split_parts(std::string_view input, std::string_view separator,
                                                 size_t max_parts) {
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < max_parts) {
        const size_t at = input.find(separator);
        if (at == std::string_view::npos) break;
        parts.push_back(input.substr(0, at));
        input.remove_prefix(at + separator.size());
    }
    parts.push_back(input);
    return parts;
}

inline std::string join_parts(const std::vector<std::string> &parts, std::string_view separator) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += separator;
        out += parts[i];
    }
    return out;
}

inline void write_file(const fs::path &path, std::string_view bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A directory of this process for `target`'s files, on tmpfs when there is one (the readers
/// fsync), removed at exit. Emptied by the caller as it needs.
inline const fs::path &scratch_dir(const char *target) {
    static const fs::path dir = [target] {
        std::error_code ec;
        const fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                                  ? fs::path("/dev/shm")
                                  : fs::temp_directory_path();
        fs::path d = base / ("sluice-" + std::string(target) + "-" + std::to_string(::getpid()));
        fs::remove_all(d, ec);
        fs::create_directories(d);
        static fs::path to_remove;
        to_remove = d;
        std::atexit([] {
            std::error_code ignored;
            fs::remove_all(to_remove, ignored);
        });
        return d;
    }();
    return dir;
}

/// main() of a seed generator: writes `seeds` (name, bytes) into argv[1] (emptied first), then
/// runs every seed through the target once, so that the g++ build checks the invariants too.
inline int write_seeds(int argc, char **argv, const char *target,
                       const std::vector<std::pair<std::string, std::string>> &seeds) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s_seeds OUTDIR\n", target);
        return 2;
    }
    const fs::path out = argv[1];
    fs::remove_all(out);
    fs::create_directories(out);
    for (const auto &[name, bytes] : seeds) write_file(out / name, bytes);
    LLVMFuzzerInitialize(&argc, &argv);
    for (const auto &[name, bytes] : seeds)
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    std::printf("%s_seeds: %zu seeds in %s, each run through the fuzz target once\n", target,
                seeds.size(), out.string().c_str());
    return 0;
}

}  // namespace sluice::fuzz
