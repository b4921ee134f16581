#include "plugins/plugin_reloader.hpp"

#include <signal.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "common/clock.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_file.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/reload_text.hpp"
#include "plugins/sha256.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;
using detail::result_text;
using detail::utc_text;
using Clock = std::chrono::steady_clock;

namespace {

std::mutex registry_mutex;
std::set<PluginReloader *> registry;  // live reloaders, for rescan_all()

std::string errno_text() {
    return std::strerror(errno);
}

// Closes a file descriptor on scope exit.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

FileFingerprint from_stat(const struct stat &st) {
    return {st.st_dev, st.st_ino, st.st_size,
            int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
            int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
}

}  // namespace

std::optional<FileFingerprint> fingerprint(const fs::path &file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return std::nullopt;
    return from_stat(st);
}

/// A host killed with -9 leaves its staging directory behind; the pid in the
/// name tells whether its owner is gone (kill(pid, 0) fails with ESRCH).
static void remove_abandoned_staging_dirs(const fs::path &parent) {
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(parent, ec)) {
        const std::string name = entry.path().filename().string();
        const std::string prefix = "sluice-staging-";
        if (name.rfind(prefix, 0) != 0 || !entry.is_directory(ec)) continue;
        const std::string rest = name.substr(prefix.size());
        const auto dash = rest.find('-');
        if (dash == std::string::npos || dash == 0) continue;
        pid_t pid = 0;
        try {
            pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
        } catch (const std::exception &) {
            continue;
        }
        struct stat st {};
        if (pid <= 0 || ::stat(entry.path().c_str(), &st) != 0 || st.st_uid != ::geteuid())
            continue;
        if (::kill(pid, 0) == -1 && errno == ESRCH) fs::remove_all(entry.path(), ec);
    }
}

PluginReloader::PluginReloader(PluginLoader loader, ReloaderOptions options)
    : loader_(std::move(loader)), options_(std::move(options)) {
    if (options_.poll_interval.count() <= 0) options_.poll_interval = std::chrono::milliseconds(1);
    fs::path parent =
        options_.staging_parent.empty() ? fs::temp_directory_path() : options_.staging_parent;
    // mkdtemp makes it 0700: only this user can put code where we load it from, and the
    // security check in load_file accepts it.
    remove_abandoned_staging_dirs(parent);
    std::string pattern =
        (parent / ("sluice-staging-" + std::to_string(::getpid()) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw plugin_error("hot-reload", parent.string(),
                           "cannot create a private staging directory: " + errno_text(),
                           "make the temp directory writable or turn hot-reload off");
    }
    staging_dir_ = pattern;
    if (!options_.state_dir.empty()) store_.emplace(options_.state_dir);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    std::lock_guard lock(registry_mutex);
    registry.insert(this);
}

PluginReloader::~PluginReloader() {
    {
        std::lock_guard lock(registry_mutex);
        registry.erase(this);
    }
    stop_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    drain_retired();
    drain_keeps();  // a refusal just before the stop must still be there at the next start
    for (auto &[path, loaded] : loaded_)
        if (loaded.fd >= 0) ::close(loaded.fd);
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    std::error_code ec;
    fs::remove_all(staging_dir_, ec);
}

void PluginReloader::wake() {
    if (wake_fd_ < 0) return;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

std::shared_ptr<PluginLibrary> PluginReloader::load(const std::string &name) {
    const fs::path file = loader_.resolve(name);
    for (int attempt = 0;; ++attempt) {
        auto fp = fingerprint(file);
        if (!fp) {
            throw plugin_error(name, file.string(), "the file does not exist",
                               "build the plugin or correct its path");
        }
        try {
            StagedCopy copy = stage(name, file, *fp);
            if (auto kept = refused_at_start(name, copy.sha256)) {
                if (auto lib = load_kept_copy(name, *kept)) {
                    ::unlink(copy.path.c_str());
                    ::close(copy.fd);
                    const RefusedFile &refused = kept->refused;
                    spdlog::warn(
                        "plugin '{}': {} (version {}, sha256 {}) was {} at {} ({}); serving the "
                        "last good version instead: {} (version {}); deploy a fixed file, or "
                        "send SIGHUP to try the deployed one again",
                        name, file.string(),
                        refused.file.version.empty() ? "?" : refused.file.version,
                        refused.file.sha256, result_text(refused.result),
                        utc_text(refused.file.time_ms), refused.reason, kept->file.string(),
                        lib->descriptor().version ? lib->descriptor().version : "?");
                    first_refused_[name] = *fp;
                    return lib;
                }
            }
            auto lib = load_staged(name, std::move(copy), file);
            first_loaded_[name] = *fp;
            return lib;
        } catch (const ChangedWhileStaging &) {
            if (attempt >= 20)
                throw plugin_error(name, file.string(), "keeps changing while it is copied",
                                   "deploy plugins by atomic rename");
            std::this_thread::sleep_for(options_.poll_interval);
        }
    }
}

std::shared_ptr<PluginLibrary> PluginReloader::load_kept_copy(const std::string &name,
                                                              const KeptCopy &kept) {
    try {
        for (int attempt = 0;; ++attempt) {
            const auto fp = fingerprint(kept.file);
            if (!fp) throw std::runtime_error("it is gone");
            try {
                StagedCopy copy = stage(name, kept.file, *fp);
                if (copy.sha256 != kept.sha256) {
                    ::unlink(copy.path.c_str());
                    ::close(copy.fd);
                    throw std::runtime_error("its content is not the version recorded (sha256 " +
                                             copy.sha256 + ", recorded " + kept.sha256 + ")");
                }
                auto lib = load_staged(name, std::move(copy), kept.file);
                first_loaded_[name] = *fp;
                return lib;
            } catch (const ChangedWhileStaging &) {
                if (attempt >= 20) throw std::runtime_error("it keeps changing");
            }
        }
    } catch (const std::exception &e) {
        // An upgraded host may refuse an old copy (ABI): the deployed file is the way on.
        spdlog::warn(
            "plugin '{}': the deployed file was {} before, but the kept copy {} cannot serve: {}; "
            "loading the deployed file",
            name, result_text(kept.refused.result), kept.file.string(), e.what());
        return nullptr;
    }
}

std::string PluginReloader::staged_file_name(const std::string &plugin, uint64_t generation) {
    return plugin + ".gen" + std::to_string(generation) + ".so";
}

std::optional<uint64_t> PluginReloader::staged_generation(const fs::path &path) {
    const std::string name = path.filename().string();
    const size_t at = name.rfind(".gen");
    if (at == std::string::npos || !name.ends_with(".so")) return std::nullopt;
    const std::string digits = name.substr(at + 4, name.size() - at - 4 - 3);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return std::stoull(digits);
}

PluginReloader::StagedCopy PluginReloader::stage(const std::string &name, const fs::path &file,
                                                 const FileFingerprint &expected) {
    // The security checks apply to the file the user deployed, not only to our copy, and the
    // bytes copied (and hashed) are read from the descriptor they checked.
    OpenPluginFile checked = open_plugin_file(name, file);
    const fs::path staged = staging_dir_ / staged_file_name(name, ++staged_count_[name]);
    FdGuard in{checked.release()};
    struct stat before {};
    ::fstat(in.fd, &before);
    if (!(from_stat(before) == expected)) throw ChangedWhileStaging("changed");
    // O_RDWR: the descriptor outlives the name (see StagedCopy).
    FdGuard out{::open(staged.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0700)};
    if (out.fd < 0) {
        throw plugin_error(name, staged.string(), "cannot create the staged copy: " + errno_text(),
                           "check the space and permissions of the temp directory");
    }
    Sha256 hash;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(in.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::unlink(staged.c_str());
            throw plugin_error(name, file.string(), "cannot read it to stage: " + errno_text(),
                               "check the file");
        }
        if (n == 0) break;
        hash.update(buf, static_cast<size_t>(n));
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out.fd, buf + done, static_cast<size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                ::unlink(staged.c_str());
                throw plugin_error(name, staged.string(),
                                   "cannot write the staged copy: " + errno_text(),
                                   "check the space of the temp directory");
            }
            done += w;
        }
    }
    struct stat after {};
    ::fstat(in.fd, &after);
    if (!(from_stat(after) == expected)) {
        ::unlink(staged.c_str());
        throw ChangedWhileStaging("changed");
    }
    StagedCopy copy{staged, hash.hex(), out.fd};
    out.fd = -1;
    return copy;
}

std::shared_ptr<PluginLibrary> PluginReloader::load_staged(const std::string &name, StagedCopy copy,
                                                           const fs::path &deployed) {
    FdGuard fd{copy.fd};
    std::shared_ptr<PluginLibrary> lib;
    try {
        // Through the descriptor written and hashed: what runs is what copy.sha256 names.
        lib = loader_.load_file(name, copy.path, deployed, copy.fd);  // errors name `deployed`
    } catch (...) {
        ::unlink(copy.path.c_str());
        throw;
    }
    // Mapped now; the inode stays busy (so unique) until the library is unloaded.
    ::unlink(copy.path.c_str());
    const char *version = lib->descriptor().version;
    std::lock_guard lock(mutex_);
    loaded_[lib->path()] = {lib,
                            {deployed.string(), version ? version : "", copy.sha256, wall_ms()},
                            std::exchange(fd.fd, -1)};
    if (!thread_.joinable()) {
        // The first generation (before start()): it serves from now on.
        status_[name].serving = loaded_[lib->path()].file;
        serving_[name] = lib->path();
    }
    return lib;
}

void PluginReloader::start(PluginChain &chain) {
    if (thread_.joinable()) return;
    chain_ = &chain;
    for (size_t i = 0; i < chain.instances().size(); ++i) {
        const auto &inst = chain.instances()[i];
        Watched w;
        w.slot = i;
        w.name = inst->name();
        w.config = inst->config();
        if (auto it = first_refused_.find(w.name); it != first_refused_.end())
            w.failed = it->second;  // served from the kept copy; SIGHUP tries it again
        if (auto it = first_loaded_.find(w.name); it != first_loaded_.end()) {
            w.loaded = it->second;
        } else {
            // Loaded without staging: take the file as it is now as the running version.
            try {
                w.loaded = fingerprint(loader_.resolve(w.name));
            } catch (const PluginError &) {
            }
        }
        watched_.push_back(std::move(w));
    }
    if (options_.use_inotify) open_inotify();
    thread_ = std::thread([this] { run(); });
}

void PluginReloader::open_inotify() {
    inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
        spdlog::info("hot reload: inotify unavailable ({}); polling every {} ms", errno_text(),
                     options_.poll_interval.count());
        return;
    }
    constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_ATTRIB |
                               IN_DELETE | IN_MOVED_FROM;
    for (const auto &dir : loader_.dirs()) {
        if (::inotify_add_watch(inotify_fd_, dir.c_str(), kMask) < 0)
            spdlog::debug("hot reload: cannot watch {} ({}); it is polled", dir.string(),
                          errno_text());
    }
}

void PluginReloader::rescan() {
    rescan_ = true;
    wake();
}

void PluginReloader::rescan_all() {
    std::lock_guard lock(registry_mutex);
    for (auto *r : registry) r->rescan();
}

void PluginReloader::retire(std::unique_ptr<PluginInstance> instance) {
    if (!instance) return;
    if (!thread_.joinable() || stop_) {
        instance.reset();
        return;
    }
    {
        std::lock_guard lock(mutex_);
        retired_.push_back(std::move(instance));
    }
    wake();
}

void PluginReloader::drain_retired() {
    std::vector<std::unique_ptr<PluginInstance>> doomed;
    {
        std::lock_guard lock(mutex_);
        doomed.swap(retired_);
        stats_.retired += doomed.size();
    }
    // destroy() and, for the last instance of a generation, dlclose(): outside the lock.
    while (!doomed.empty()) doomed.pop_back();
}

ReloaderStats PluginReloader::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void PluginReloader::run() {
    spdlog::info("hot reload: watching {} plugin(s) in {} (staging in {})", watched_.size(),
                 loader_.dirs().empty() ? std::string("-") : loader_.dirs().front().string(),
                 staging_dir_.string());
    while (!stop_) {
        // Sleep until an event, or the next poll; shorter while a change is settling.
        auto timeout = options_.poll_interval;
        const auto now = Clock::now();
        for (const auto &w : watched_) {
            if (!w.candidate) continue;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                w.candidate_since + options_.poll_interval - now);
            timeout = std::clamp(left + std::chrono::milliseconds(1), std::chrono::milliseconds(1),
                                 timeout);
        }
        pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
        const int nfds = inotify_fd_ >= 0 ? 2 : 1;
        ::poll(fds, nfds, static_cast<int>(timeout.count()));
        if (stop_) break;
        uint64_t ignored;
        while (::read(wake_fd_, &ignored, sizeof ignored) > 0) {
        }
        if (inotify_fd_ >= 0) {
            // The events only wake us up; what changed is read from the files themselves.
            alignas(inotify_event) char buf[4096];
            while (::read(inotify_fd_, buf, sizeof buf) > 0) {
            }
        }
        drain_retired();
        drain_keeps();
        forget_unloaded();
        const bool force = rescan_.exchange(false);
        if (force) spdlog::info("hot reload: rescanning the plugin directories");
        for (auto &w : watched_) {
            if (stop_) break;
            check(w, force);
            if (!stop_) check_canary(w, force);
        }
    }
}

void PluginReloader::check(Watched &w, bool force) {
    std::optional<FileFingerprint> fp;
    fs::path file;
    try {
        file = loader_.resolve(w.name);
        fp = fingerprint(file);
    } catch (const PluginError &) {
    }
    if (!fp) {
        // Mid-rename, or removed: the running generation goes on.
        if (!w.missing_logged) spdlog::debug("hot reload: plugin '{}' has no file now", w.name);
        w.missing_logged = true;
        w.candidate.reset();
        return;
    }
    w.missing_logged = false;
    if (force) w.failed.reset();
    if (fp == w.loaded || fp == w.failed) {
        w.candidate.reset();
        return;
    }
    const auto now = Clock::now();
    if (fp != w.candidate) {
        w.candidate = fp;  // debounce: wait until it stays like this for one poll interval
        w.candidate_since = now;
        return;
    }
    if (now - w.candidate_since < options_.poll_interval) return;
    w.candidate.reset();

    std::unique_ptr<PluginInstance> next;
    PluginFile tried{file.string(), "", "", 0};  // what is known of it when it fails
    try {
        StagedCopy copy = stage(w.name, file, *fp);
        tried.sha256 = copy.sha256;
        auto lib = load_staged(w.name, std::move(copy), file);
        if (const char *version = lib->descriptor().version) tried.version = version;
        next = std::make_unique<PluginInstance>(std::move(lib), w.config);
    } catch (const ChangedWhileStaging &) {
        return;  // seen again next time round, and debounced anew
    } catch (const std::exception &e) {
        spdlog::error("hot reload of plugin '{}' failed, the running generation stays: {}", w.name,
                      e.what());
        w.failed = fp;
        record_rejected(w.name, std::move(tried), e.what());
        std::lock_guard lock(mutex_);
        ++stats_.failed;
        return;
    }
    w.loaded = fp;
    w.failed.reset();
    spdlog::info("hot reload: plugin '{}' new version ready ({} {}), swapping at the next batch",
                 w.name,
                 next->library().descriptor().name ? next->library().descriptor().name : "?",
                 next->library().descriptor().version ? next->library().descriptor().version : "?");
    // A replacement that never got swapped in is superseded: destroyed here, off the batch path.
    auto displaced = chain_->offer_replacement(w.slot, std::move(next));
    std::lock_guard lock(mutex_);
    ++stats_.offered;
    if (displaced) ++stats_.retired;
}

void PluginReloader::forget_unloaded() {
    std::lock_guard lock(mutex_);
    for (auto it = loaded_.begin(); it != loaded_.end();) {
        if (it->second.library.expired()) {
            if (it->second.fd >= 0) ::close(it->second.fd);
            it = loaded_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace sluice::plugins
