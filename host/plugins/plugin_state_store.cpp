#include "plugins/plugin_state_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "plugins/sha256.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::runtime_error io_error(const std::string &what, const fs::path &file, int err) {
    return std::runtime_error("cannot " + what + " " + file.string() + ": " + std::strerror(err) +
                              "; check the space and permissions of its directory");
}

void fsync_dir(const fs::path &dir) {
    Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd < 0 || ::fsync(d.fd) != 0) throw io_error("fsync directory", dir, errno);
}

// Write whole, fsync, check close, rename over the target, fsync the directory.
template <typename Fill>
void replace_file(const fs::path &target, mode_t mode, Fill &&fill) {
    fs::path temp = target;
    temp += ".tmp";
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) throw io_error("create", temp, errno);
    auto fail = [&](const std::string &what, int err) {
        if (fd >= 0) ::close(fd);
        fd = -1;
        ::unlink(temp.c_str());
        throw io_error(what, temp, err);
    };
    auto write_all = [&](const void *data, size_t size) {
        const auto *p = static_cast<const char *>(data);
        while (size > 0) {
            const ssize_t n = ::write(fd, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail("write", errno);
            p += n;
            size -= static_cast<size_t>(n);
        }
    };
    try {
        fill(write_all);
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    if (::fsync(fd) != 0) fail("fsync", errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail("close", errno);
    if (::rename(temp.c_str(), target.c_str()) != 0) fail("rename", errno);
    fsync_dir(target.parent_path());
}

json to_json(const PluginFile &f) {
    return {{"file", f.file}, {"version", f.version}, {"sha256", f.sha256}, {"time_ms", f.time_ms}};
}

PluginFile file_from(const json &j) {
    return {j.at("file").get<std::string>(), j.at("version").get<std::string>(),
            j.at("sha256").get<std::string>(), j.at("time_ms").get<int64_t>()};
}

}  // namespace

const RefusedFile *PluginRecord::find_refused(const std::string &sha256) const {
    for (const auto &r : refused)
        if (r.file.sha256 == sha256) return &r;
    return nullptr;
}

void PluginRecord::add_refused(RefusedFile entry) {
    forget_refused(entry.file.sha256);
    refused.push_back(std::move(entry));
    if (refused.size() > kMaxRefused)
        refused.erase(refused.begin(), refused.end() - static_cast<ptrdiff_t>(kMaxRefused));
}

bool PluginRecord::forget_refused(const std::string &sha256) {
    return std::erase_if(refused, [&](const RefusedFile &r) { return r.file.sha256 == sha256; }) >
           0;
}

PluginStateStore::PluginStateStore(fs::path dir) : dir_(std::move(dir)) {}

fs::path PluginStateStore::good_copy(const std::string &name) const {
    return dir_ / (name + ".good.so");
}

std::optional<PluginRecord> PluginStateStore::read(const std::string &name) const {
    const fs::path file = dir_ / (name + ".json");
    Fd fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw io_error("open", file, errno);
    }
    std::string text;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw io_error("read", file, errno);
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    try {
        const json j = json::parse(text);
        if (j.at("format_version").get<int>() != kFormatVersion)
            throw std::runtime_error("unknown format_version " + j.at("format_version").dump());
        PluginRecord record;
        if (!j.at("good").is_null()) record.good = file_from(j.at("good"));
        for (const auto &r : j.at("refused"))
            record.refused.push_back({file_from(r), r.at("result").get<std::string>(),
                                      r.at("reason").get<std::string>()});
        return record;
    } catch (const std::exception &e) {
        spdlog::warn(
            "hot reload: the record {} is damaged ({}); it is ignored, and rewritten at the next "
            "refused version",
            file.string(), e.what());
        return std::nullopt;
    }
}

void PluginStateStore::make_dir() const {
    std::error_code ec;
    if (fs::is_directory(dir_, ec)) return;
    const fs::path parent = dir_.parent_path();
    fs::create_directories(parent, ec);
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) throw io_error("create", dir_, errno);
    fsync_dir(parent);
}

void PluginStateStore::write(const std::string &name, const PluginRecord &record) const {
    make_dir();
    json refused = json::array();
    for (const auto &r : record.refused) {
        json entry = to_json(r.file);
        entry["result"] = r.result;
        entry["reason"] = r.reason;
        refused.push_back(std::move(entry));
    }
    const json j = {{"format_version", kFormatVersion},
                    {"plugin", name},
                    {"good", record.good ? to_json(*record.good) : json(nullptr)},
                    {"refused", std::move(refused)}};
    const std::string text = j.dump(2) + "\n";
    replace_file(dir_ / (name + ".json"), 0600,
                 [&](auto &&write_all) { write_all(text.data(), text.size()); });
}

void PluginStateStore::keep_copy(const std::string &name, int fd, const std::string &sha256) const {
    make_dir();
    const fs::path target = good_copy(name);
    replace_file(target, 0700, [&](auto &&write_all) {
        Sha256 hash;
        char buf[1 << 16];
        for (off_t at = 0;;) {
            const ssize_t n = ::pread(fd, buf, sizeof buf, at);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw io_error("read the staged copy for", target, errno);
            if (n == 0) break;
            hash.update(buf, static_cast<size_t>(n));
            write_all(buf, static_cast<size_t>(n));
            at += n;
        }
        if (hash.hex() != sha256)
            throw std::runtime_error("the staged copy for " + target.string() +
                                     " no longer has the content that was loaded");
    });
}

fs::path default_state_dir(const fs::path &checkpoint_dir,
                           const std::vector<fs::path> &plugin_dirs) {
    if (!checkpoint_dir.empty()) return checkpoint_dir / "plugin-state";
    fs::path base;
    if (const char *xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg == '/')
        base = xdg;
    else if (const char *home = std::getenv("HOME"); home && *home == '/')
        base = fs::path(home) / ".local" / "state";
    else
        return {};
    // One record per set of plugin directories: the record is about the files in them.
    std::string key;
    for (const auto &dir : plugin_dirs) {
        std::error_code ec;
        const fs::path real = fs::weakly_canonical(dir, ec);
        key += (ec ? dir : real).string();
        key += '\n';
    }
    return base / "sluice" / "plugin-state" / sha256_hex(key).substr(0, 16);
}

}  // namespace sluice::plugins
