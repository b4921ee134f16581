#include "checkpoint/files.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>

#include "checkpoint/checkpoint_store.hpp"

namespace sluice::checkpoint::detail {

namespace fs = std::filesystem;

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

std::string quoted(const fs::path &p) {
    return "'" + p.string() + "'";
}

std::string out_of_dir_hint(const fs::path &dir) {
    return "fix it or point --checkpoint at another directory than " + quoted(dir);
}

// The entries of a directory; a listing error is a CheckpointError.
std::vector<fs::directory_entry> list_dir(const fs::path &dir, const fs::path &checkpoint_dir) {
    std::vector<fs::directory_entry> entries;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        entries.push_back(*it);
    if (ec)
        throw CheckpointError("cannot read checkpoint directory " + quoted(dir) + ": " +
                              ec.message() + "; " + out_of_dir_hint(checkpoint_dir));
    return entries;
}

bool is_temp_name(const std::string &name) {
    return name.ends_with(kTempSuffix);
}

// Entry files are named by their batch id in canonical decimal.
std::optional<int64_t> parse_batch_id(const std::string &name) {
    int64_t id = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec != std::errc() || end != name.data() + name.size() || id < 0 ||
        std::to_string(id) != name)
        return std::nullopt;
    return id;
}

// nullopt if the file vanished (pruned by the writer while we scan unlocked).
std::optional<std::string> read_file(const fs::path &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw CheckpointError("cannot open checkpoint file " + quoted(path) + ": " +
                              errno_text(errno) + "; check its permissions");
    }
    std::string data;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw CheckpointError("cannot read checkpoint file " + quoted(path) + ": " +
                                  errno_text(errno) + "; check the disk");
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    return data;
}

void fsync_dir(const fs::path &dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0)
        throw CheckpointError("cannot fsync checkpoint directory " + quoted(dir) + ": " +
                              errno_text(errno) + "; check the disk");
}

// Crash-safe replace: a reader sees the old file or the new one, never a mix,
// and the new one survives power loss once this returns.
void write_atomically(const fs::path &dir, const std::string &name, std::string_view bytes) {
    fs::path target = dir / name;
    fs::path temp = dir / (name + std::string(kTempSuffix));
    auto fail = [&](const char *what) {
        int err = errno;
        ::unlink(temp.c_str());
        const bool io = std::string_view(what) == "fsync" || std::string_view(what) == "close";
        throw CheckpointError(std::string("cannot ") + what + " checkpoint file " + quoted(target) +
                              ": " + errno_text(err) +
                              (io ? "; check the disk (the kernel log says more)"
                                  : "; check free space and permissions of the checkpoint "
                                    "directory"));
    };
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) fail("create");
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write");
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail("fsync");
    if (::close(fd.release()) != 0) fail("close");
    if (::rename(temp.c_str(), target.c_str()) != 0) fail("rename");
    fsync_dir(dir);  // makes the rename itself durable
}

void remove_entries_below(const fs::path &dir, const fs::path &checkpoint_dir,
                          int64_t oldest_kept) {
    std::vector<fs::directory_entry> entries;
    try {
        entries = list_dir(dir, checkpoint_dir);
    } catch (const CheckpointError &e) {
        spdlog::warn("checkpoint: cannot prune: {}", e.what());
    }
    for (const auto &entry : entries) {
        auto id = parse_batch_id(entry.path().filename().string());
        if (!id || *id >= oldest_kept) continue;
        std::error_code ec;
        if (!fs::remove(entry.path(), ec) && ec)
            spdlog::warn("checkpoint: cannot prune {}: {}", entry.path().string(), ec.message());
    }
}

}  // namespace sluice::checkpoint::detail
