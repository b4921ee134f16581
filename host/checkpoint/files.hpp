#pragma once
// Reading and writing checkpoint files by the durability rules (docs/durability.md): a new file
// is written whole to NAME.tmp, fsynced, closed (checked), renamed over NAME and its directory
// fsynced; a read that fails is an error, never a short file. Any thread; no shared state.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

namespace sluice::checkpoint::detail {

inline constexpr std::string_view kTempSuffix = ".tmp";

/// Closes a file descriptor on scope exit.
class UniqueFd {
  public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

std::string errno_text(int err);
std::string quoted(const std::filesystem::path &p);
/// "fix it or point --checkpoint at another directory than 'DIR'".
std::string out_of_dir_hint(const std::filesystem::path &dir);
/// The entries of a directory; a listing error is a CheckpointError.
std::vector<std::filesystem::directory_entry> list_dir(const std::filesystem::path &dir,
                                                       const std::filesystem::path &checkpoint_dir);
bool is_temp_name(const std::string &name);
/// Entry files are named by their batch id in canonical decimal.
std::optional<int64_t> parse_batch_id(const std::string &name);
/// The whole file; nullopt if it vanished. A read error is a CheckpointError.
std::optional<std::string> read_file(const std::filesystem::path &path);
/// fsyncs a directory; a failure is a CheckpointError.
void fsync_dir(const std::filesystem::path &dir);
/// Crash-safe replace of DIR/NAME (see the top of this file); throws CheckpointError.
void write_atomically(const std::filesystem::path &dir, const std::string &name,
                      std::string_view bytes);
/// Removes the entries of `dir` named by a batch id below `oldest_kept` (a failure is a warning:
/// it costs disk space, not correctness).
void remove_entries_below(const std::filesystem::path &dir,
                          const std::filesystem::path &checkpoint_dir, int64_t oldest_kept);

}  // namespace sluice::checkpoint::detail
