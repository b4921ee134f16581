#pragma once
// Shared helpers of the hot-reload tests: deploying plugin builds into a private plugin
// directory, hand-made batches, log capture, polling for a condition.

#include <fcntl.h>
#include <sluice/sluice.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace sluice::reload_test {

namespace fs = std::filesystem;

/// A fresh private directory (mode 0700, as the loader's security check wants), removed on
/// destruction (the shared tests/support TempDir).
class TempDir : public sluice::test::TempDir {
  public:
    explicit TempDir(const std::string &prefix = "sluice-reload")
        : sluice::test::TempDir(sluice::test::temp_dir(prefix)) {}
};

/// The built test plugin `reload_<build>.so`.
inline fs::path build_file(const std::string &build) {
    return fs::path(RELOAD_TEST_PLUGIN_DIR) / ("reload_" + build + ".so");
}

inline std::string read_text(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Deploys the way an operator should: write a temp file next to it, then rename over.
inline void deploy_by_rename(const fs::path &from, const fs::path &to) {
    fs::path tmp = to;
    tmp += ".tmp";
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    fs::permissions(tmp, fs::perms(0755));
    fs::rename(tmp, to);
}

/// Deploys the naive way: truncate and overwrite the file in place (same inode), optionally
/// only the first `limit` bytes (a truncated file).
inline void deploy_by_copy(const fs::path &from, const fs::path &to,
                           size_t limit = static_cast<size_t>(-1)) {
    std::string bytes = read_text(from);
    if (bytes.size() > limit) bytes.resize(limit);
    int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0) throw std::runtime_error("cannot open " + to.string());
    if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
        throw std::runtime_error("short write to " + to.string());
    ::close(fd);
}

/// Records with values, and a batch of them; the views stay valid while this object lives.
class TestBatch {
  public:
    TestBatch(int64_t id, std::vector<std::string> values, int32_t partition = 0,
              int64_t first_offset = 0)
        : values_(std::move(values)) {
        for (size_t i = 0; i < values_.size(); ++i) {
            sluice_record_t r{};
            r.struct_size = sizeof r;
            r.topic = "t";
            r.partition = partition;
            r.offset = first_offset + static_cast<int64_t>(i);
            r.value = values_[i].data();
            r.value_len = values_[i].size();
            records_.push_back(r);
        }
        range_ = {sizeof range_, "t", partition, first_offset,
                  first_offset + static_cast<int64_t>(values_.size())};
        batch_.struct_size = sizeof batch_;
        batch_.batch_id = id;
        batch_.ranges = &range_;
        batch_.range_count = 1;
        batch_.range_stride = sizeof range_;
        batch_.records = records_.data();
        batch_.record_count = records_.size();
        batch_.record_stride = sizeof(sluice_record_t);
    }
    const sluice_batch_t &get() const { return batch_; }

  private:
    std::vector<std::string> values_;
    std::vector<sluice_record_t> records_;
    sluice_offset_range_t range_{};
    sluice_batch_t batch_{};
};

/// Captures what the host logs (all loggers go through the default one) while it lives.
/// spdlog swaps its default logger without synchronising with the threads that log through it:
/// create the capture before a chain starts its reloader thread, and let it outlive the chain.
class LogCapture {
  public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
        previous_ = spdlog::default_logger();
        auto logger = std::make_shared<spdlog::logger>("capture", sink_);
        logger->set_level(spdlog::level::debug);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;

    std::vector<std::string> lines() const { return sink_->last_formatted(); }
    /// Lines at level error that contain `needle`.
    size_t errors_containing(const std::string &needle) const {
        size_t n = 0;
        for (const auto &l : lines())
            if (l.find("[error]") != std::string::npos && l.find(needle) != std::string::npos) ++n;
        return n;
    }
    std::string all() const {
        std::string out;
        for (const auto &l : lines()) out += l;
        return out;
    }

  private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> previous_;
};

/// Polls pred every 5 ms until it holds or timeout passes.
inline bool wait_until(const std::function<bool()> &pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
}

inline std::vector<std::string> read_lines(const fs::path &file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

inline bool contains_line(const fs::path &file, const std::string &line) {
    for (const auto &l : read_lines(file))
        if (l == line) return true;
    return false;
}

}  // namespace sluice::reload_test
