#pragma once
// What a hot-reloading host keeps across restarts about each plugin: the content hashes of the
// files it refused (could not load them, or rolled them back after a fatal first batch) and a
// private copy of the last version that passed a batch. A restart that finds a refused file
// deployed serves that copy instead, with a warning (docs/hot-reload.md, "After a restart").

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::plugins {

/// A plugin file as /status shows it.
struct PluginFile {
    std::string file;     // the deployed path the user knows (or the kept copy's, when served)
    std::string version;  // the descriptor's version string; "" if unknown
    std::string sha256;   // content hash, hex (what `sha256sum FILE` prints)
    int64_t time_ms = 0;  // Unix ms: when it started serving, or was refused
};

/// A file the host refused to serve.
struct RefusedFile {
    PluginFile file;
    std::string result;  // "rejected" (never swapped in) or "rolled_back" (fatal first batch)
    std::string reason;  // the error, one line
};

/// Outcomes of one plugin's hot reloads, and what serves: PluginReloader::status().
struct ReloadStatus {
    uint64_t swapped = 0;      // swapped in and not rolled back
    uint64_t rejected = 0;     // refused before serving: stage, load, ABI, create or hand-over
    uint64_t rolled_back = 0;  // swapped in, failed its first batch, previous version restored
    std::optional<PluginFile> serving;
    std::optional<RefusedFile> last_refused;  // this run's, or the kept record's at start
};

/// One plugin's record in the state directory (NAME.json).
struct PluginRecord {
    static constexpr size_t kMaxRefused = 16;  // older entries are dropped
    std::vector<RefusedFile> refused;          // oldest first, one per hash
    std::optional<PluginFile> good;            // what NAME.good.so holds

    const RefusedFile *find_refused(const std::string &sha256) const;
    /// Adds (or moves to the end, updated) the entry of `refused.file.sha256`.
    void add_refused(RefusedFile refused);
    /// Forgets `sha256` (it has since passed a batch). Returns whether it was there.
    bool forget_refused(const std::string &sha256);
};

/// The files of the hot-reload state directory: NAME.json and NAME.good.so per plugin.
///
/// Lifecycle: a plain handle on a directory that may not exist yet; the first write creates it
/// (mode 0700: code is loaded from it). Every write is atomic and durable (temp file, fsync,
/// rename, fsync of the directory). Thread: the reloader's (or the control thread before it
/// starts); no locking of its own.
class PluginStateStore {
  public:
    explicit PluginStateStore(std::filesystem::path dir);

    const std::filesystem::path &dir() const { return dir_; }
    /// Where the kept copy of plugin `name` lives.
    std::filesystem::path good_copy(const std::string &name) const;

    /// The record of `name`, or nullopt when there is none. A damaged record is reported once
    /// (warning) and read as none. Throws std::runtime_error when the file cannot be read.
    std::optional<PluginRecord> read(const std::string &name) const;
    /// Replaces the record of `name`. Throws std::runtime_error (one line naming the file).
    void write(const std::string &name, const PluginRecord &record) const;
    /// Replaces the kept copy of `name` with the content of `fd` (read from offset 0) and
    /// checks that it hashes to `sha256`. Throws std::runtime_error.
    void keep_copy(const std::string &name, int fd, const std::string &sha256) const;

  private:
    void make_dir() const;

    std::filesystem::path dir_;
};

/// The state directory of a run: DIR/plugin-state under its checkpoint directory when it has
/// one, else $XDG_STATE_HOME (or ~/.local/state) /sluice/plugin-state/<hash of the plugin
/// directories>; empty when none of these exists.
std::filesystem::path default_state_dir(const std::filesystem::path &checkpoint_dir,
                                        const std::vector<std::filesystem::path> &plugin_dirs);

}  // namespace sluice::plugins
