#pragma once
// Hot reload: watches the plugin directories, stages and loads new versions off the batch
// thread, and hands them to the PluginChain, which swaps them in at a batch boundary.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "plugins/plugin_loader.hpp"

namespace sluice::plugins {

class PluginChain;
class PluginInstance;

struct ReloaderOptions {
    /// How often the files are looked at without an inotify event (the polling fallback), and
    /// how long a changed file must stay unchanged before it is loaded (debounce of a plain
    /// copy that is still being written).
    std::chrono::milliseconds poll_interval{250};
    /// Where the private staging directory is made; empty = the system temp directory.
    std::filesystem::path staging_parent;
    /// false = polling only (tests of the fallback).
    bool use_inotify = true;
};

/// Counters for logs and tests.
struct ReloaderStats {
    uint64_t offered = 0;  // new generations created and handed to the chain
    uint64_t failed = 0;   // versions that could not be staged, loaded, negotiated or created
    uint64_t retired = 0;  // old instances destroyed on the reloader thread
};

/// Identity and state of a plugin file as stat() sees it: a rename changes the inode, a plain
/// copy the size or the times.
struct FileFingerprint {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileFingerprint &) const = default;
};

/// Stages, loads and creates new plugin generations for one PluginChain.
///
/// Lifecycle: made by PluginChain::enable_hot_reload (which owns it) on the control thread; it
/// creates a private staging directory (mode 0700) that it removes on destruction. load() stages
/// the first generation (control thread, before start()). start() launches the watcher thread,
/// which the destructor stops and joins. Threads: the watcher thread does every stage, dlopen,
/// create and destroy; rescan() and retire() are safe from any thread.
class PluginReloader {
  public:
    PluginReloader(PluginLoader loader, ReloaderOptions options);
    ~PluginReloader();
    PluginReloader(const PluginReloader &) = delete;
    PluginReloader &operator=(const PluginReloader &) = delete;

    /// Resolves NAME in the plugin directories, copies it to the staging directory under a
    /// unique name and loads that copy. Remembers the file's fingerprint so that only a later
    /// change triggers a reload. Throws PluginError. Control thread, before start().
    std::shared_ptr<PluginLibrary> load(const std::string &name);
    /// Starts watching the files of the chain's plugins (names and configs from its instances).
    void start(PluginChain &chain);
    /// Look at every plugin file now (SIGHUP), and retry versions that failed before.
    void rescan();
    /// rescan() on every live reloader of this process (the signal thread's way in).
    static void rescan_all();
    /// Destroys an instance the chain no longer uses, on the watcher thread (off the batch
    /// path); inline when the watcher is not running.
    void retire(std::unique_ptr<PluginInstance> instance);

    ReloaderStats stats() const;
    const std::filesystem::path &staging_dir() const { return staging_dir_; }
    const PluginLoader &loader() const { return loader_; }

  private:
    struct Watched {
        size_t slot = 0;
        std::string name;
        std::map<std::string, std::string> config;
        std::optional<FileFingerprint> loaded;     // the version serving (or offered)
        std::optional<FileFingerprint> failed;     // a version that failed: not retried
        std::optional<FileFingerprint> candidate;  // a change waiting to settle
        std::chrono::steady_clock::time_point candidate_since;
        bool missing_logged = false;
    };

    void run();
    void check(Watched &w, bool force);
    std::shared_ptr<PluginLibrary> stage_and_load(const std::string &name,
                                                  const std::filesystem::path &file,
                                                  const FileFingerprint &expected);
    void open_inotify();
    void drain_retired();
    void wake();

    PluginLoader loader_;
    ReloaderOptions options_;
    std::filesystem::path staging_dir_;
    uint64_t staged_count_ = 0;                            // watcher thread (or control, before)
    std::map<std::string, FileFingerprint> first_loaded_;  // control thread, before start()

    PluginChain *chain_ = nullptr;
    std::vector<Watched> watched_;  // watcher thread only after start()
    int inotify_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop, rescan, retire
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> rescan_{false};

    mutable std::mutex mutex_;  // guards retired_ and stats_
    std::vector<std::unique_ptr<PluginInstance>> retired_;
    ReloaderStats stats_;
};

/// Stats a file for FileFingerprint; nullopt when it does not exist.
std::optional<FileFingerprint> fingerprint(const std::filesystem::path &file);

}  // namespace sluice::plugins
