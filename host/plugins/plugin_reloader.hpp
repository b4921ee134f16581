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
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "plugins/plugin_loader.hpp"
#include "plugins/plugin_state_store.hpp"

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
    /// Where refused versions and the last good copy are kept across restarts
    /// (PluginStateStore); empty = nothing is kept.
    std::filesystem::path state_dir;
    /// A transform's build deployed as NAME.canary.so beside NAME.so runs in shadow for this
    /// many batches before it is promoted (canary.hpp, docs/hot-reload.md).
    uint64_t canary_batches = 10;
    /// A sink's canary serves this many partitions (the first of the assignment) while the
    /// serving generation keeps the rest (canary.hpp).
    uint64_t canary_partitions = 1;
};

/// A version that changed while being copied to the staging directory: not a failure of that
/// version; it is tried again once it has settled.
struct ChangedWhileStaging : std::runtime_error {
    using std::runtime_error::runtime_error;
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
/// create and destroy, and every write to the state directory; rescan(), retire(), note() and
/// status() are safe from any thread.
///
/// Across restarts (options.state_dir): once a version has been refused, its content hash is
/// recorded and a copy of the version serving then is kept; load() at the next start serves
/// that copy when the deployed file is one that was refused. Nothing is written while nothing
/// is refused.
class PluginReloader {
  public:
    PluginReloader(PluginLoader loader, ReloaderOptions options);
    ~PluginReloader();
    PluginReloader(const PluginReloader &) = delete;
    PluginReloader &operator=(const PluginReloader &) = delete;

    /// Resolves NAME in the plugin directories, copies it to the staging directory under a
    /// unique name and loads that copy. Remembers the file's fingerprint so that only a later
    /// change triggers a reload. When the deployed file has the hash of a version this host
    /// refused before and a good copy is kept, loads that copy instead (one warning naming
    /// both). Throws PluginError. Control thread, before start().
    std::shared_ptr<PluginLibrary> load(const std::string &name);
    /// Starts watching the files of the chain's plugins (names and configs from its instances).
    void start(PluginChain &chain);
    /// Look at every plugin file now (SIGHUP), and retry versions that failed before.
    void rescan();
    /// rescan() on every live reloader of this process (the signal thread's way in).
    static void rescan_all();
    /// POST /control/canary?plugin=NAME (canary_watch.cpp): the watcher stages NAME.canary.so,
    /// or else NAME.so, at once (no debounce, even a file tried before) and offers it as a
    /// canary. Any thread.
    void request_canary(const std::string &name);
    /// Destroys an instance the chain no longer uses, on the watcher thread (off the batch
    /// path); inline when the watcher is not running.
    void retire(std::unique_ptr<PluginInstance> instance);

    /// What the chain did with a generation at a batch boundary (PluginChain calls note()).
    enum class Outcome {
        swapped_in,      // `subject` serves now, on probation
        confirmed,       // `subject` (swapped in) passed its first batch: counts as swapped
        superseded,      // `subject`, still on probation, was replaced: counts as swapped
        first_batch_ok,  // `subject`, the first generation, passed its first batch
        refused,         // `subject` was refused at the boundary (hand-over); `serving` stays
        rolled_back,     // `subject` failed its first batch; `serving` took over again
    };
    /// Counts the outcome at once (status() shows it) and queues what must be kept in the
    /// state directory for the watcher thread. Batch thread; `subject` and `serving` must be
    /// alive during the call.
    void note(Outcome outcome, const std::string &plugin, const PluginLibrary &subject,
              const PluginLibrary *serving = nullptr, const std::string &reason = {});
    /// The reload counts, the serving file and the last refused one of plugin `name`. Any thread.
    ReloadStatus status(const std::string &name) const;

    ReloaderStats stats() const;
    const std::filesystem::path &staging_dir() const { return staging_dir_; }

    /// A staged copy's file name: NAME.genN.so, N counting the deployments of that plugin
    /// offered in this run (the first load is 1). The generation the chain reports is this N,
    /// so the log, /status and the staged file always agree, even after a refused or a
    /// rolled-back deployment used a number up. Pure; any thread.
    static std::string staged_file_name(const std::string &plugin, uint64_t generation);
    /// N of a path named by staged_file_name, or nullopt for any other file (hot reload off).
    static std::optional<uint64_t> staged_generation(const std::filesystem::path &path);
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
        // NAME.canary.so: the version offered as a canary, one that failed, one settling.
        std::optional<FileFingerprint> canary_loaded, canary_failed, canary_candidate;
        std::chrono::steady_clock::time_point canary_since;
    };

    // A staged copy: unlinked once loaded, but still open so that it can be kept (copied into
    // the state directory) while its library is loaded.
    struct StagedCopy {
        std::filesystem::path path;
        std::string sha256;
        int fd = -1;
    };
    // Per loaded library (by staged path): where it came from, until the library is unloaded.
    struct Loaded {
        std::weak_ptr<PluginLibrary> library;
        PluginFile file;  // deployed path, version, hash, load time
        int fd = -1;      // the staged copy (see StagedCopy)
    };
    // Work for the watcher thread: update the state directory.
    struct Keep {
        std::string plugin;
        std::optional<RefusedFile> refused;  // record it and keep `serving`; nullopt: `serving`
                                             // passed a batch (kept if a record exists)
        std::filesystem::path serving;       // staged path of the version serving
        int fd = -1;                         // dup of its staged copy; closed by drain_keeps
    };

    void run();
    void check(Watched &w, bool force);
    /// NAME.canary.so of `w`: a settled new one is staged, loaded, created and offered to the
    /// chain's CanaryShadow (canary_watch.cpp). Watcher thread.
    void check_canary(Watched &w, bool force);
    StagedCopy stage(const std::string &name, const std::filesystem::path &file,
                     const FileFingerprint &expected);
    std::shared_ptr<PluginLibrary> load_staged(const std::string &name, StagedCopy copy,
                                               const std::filesystem::path &deployed);
    // The kept copy that serves at start instead of a refused deployed file.
    struct KeptCopy {
        std::filesystem::path file;
        std::string sha256;   // as recorded
        RefusedFile refused;  // the deployed file's entry
    };
    /// Whether `name`'s deployed file (hashing to `sha256`) was refused and a copy is kept.
    /// Control thread, in load().
    std::optional<KeptCopy> refused_at_start(const std::string &name, const std::string &sha256);
    /// Stages and loads the kept copy; nullptr (with a warning) when it cannot serve. Control
    /// thread, in load().
    std::shared_ptr<PluginLibrary> load_kept_copy(const std::string &name, const KeptCopy &kept);
    // thread: watcher (a version that failed to stage, load or create)
    void record_rejected(const std::string &name, PluginFile tried, const std::string &reason);
    // lock: mutex_ held
    void queue_keep(const std::string &plugin, std::optional<RefusedFile> refused);
    // thread: watcher, or the destructor after it joined
    void keep(const Keep &job);
    void drain_keeps();
    void forget_unloaded();
    void open_inotify();
    void drain_retired();
    void wake();

    PluginLoader loader_;
    ReloaderOptions options_;
    std::filesystem::path staging_dir_;
    std::map<std::string, uint64_t> staged_count_;  // per plugin (NAME.genN.so); watcher thread
                                                    // (or control, before start)
    std::map<std::string, FileFingerprint> first_loaded_;   // control thread, before start()
    std::map<std::string, FileFingerprint> first_refused_;  // deployed, refused at start: same
    std::optional<PluginStateStore> store_;                 // watcher thread (control, before)

    PluginChain *chain_ = nullptr;
    std::vector<Watched> watched_;  // watcher thread only after start()
    int inotify_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop, rescan, retire
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> rescan_{false};

    mutable std::mutex mutex_;  // guards retired_, stats_, loaded_, status_, serving_, keeps_
    std::vector<std::unique_ptr<PluginInstance>> retired_;
    ReloaderStats stats_;
    std::map<std::filesystem::path, Loaded> loaded_;        // by staged path
    std::map<std::string, ReloadStatus> status_;            // by plugin name
    std::map<std::string, std::filesystem::path> serving_;  // plugin -> staged path serving
    std::vector<Keep> keeps_;
    std::set<std::string> canary_requests_;  // guarded by mutex_: request_canary's names
};

/// Stats a file for FileFingerprint; nullopt when it does not exist.
std::optional<FileFingerprint> fingerprint(const std::filesystem::path &file);

}  // namespace sluice::plugins
