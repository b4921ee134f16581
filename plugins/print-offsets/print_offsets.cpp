// print-offsets: for every batch (also empty ones) prints
//   batch <id> time <ms> records <n>
//   <topic> <partition> <from_offset> <until_offset>     (one line per offset range)
// to stdout, or appended to `[plugin.print-offsets] output=FILE`.
// The offset-range half is the Spark Streaming docs' HasOffsetRanges example.

#include <sluice/plugin.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// Lifecycle: one per instance, created and destroyed on the control thread;
/// process runs on the batch thread.
class PrintOffsets {
  public:
    // The keys of [plugin.print-offsets]: any other key there is refused by the host.
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"output", sluice::ConfigType::path, std::nullopt,
                 "append the lines to this file instead of stdout"}};
    }

    explicit PrintOffsets(sluice::Host &host) : output_path_(host.config_or("output", "")) {
        if (output_path_.empty()) {
            out_ = stdout;
        } else {
            out_ = std::fopen(output_path_.c_str(), "a");
            if (out_ == nullptr) {
                throw sluice::Fatal("print-offsets: cannot open output file '" + output_path_ +
                                    "': " + std::strerror(errno) +
                                    ": fix [plugin.print-offsets] output or the directory");
            }
        }
    }
    ~PrintOffsets() {
        if (out_ != nullptr && out_ != stdout) std::fclose(out_);
    }
    PrintOffsets(const PrintOffsets &) = delete;
    PrintOffsets &operator=(const PrintOffsets &) = delete;

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        // One write per batch, so concurrent readers of the file see whole batches.
        std::string text = "batch " + std::to_string(batch.id()) + " time " +
                           std::to_string(batch.time_ms()) + " records " +
                           std::to_string(batch.size()) + "\n";
        for (const sluice::OffsetRange &r : batch.ranges()) {
            text.append(r.topic);
            text += ' ' + std::to_string(r.partition) + ' ' + std::to_string(r.from_offset) + ' ' +
                    std::to_string(r.until_offset) + '\n';
        }
        if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() ||
            std::fflush(out_) != 0) {
            throw sluice::Fatal("print-offsets: cannot write to '" +
                                (output_path_.empty() ? std::string("stdout") : output_path_) +
                                "': " + std::strerror(errno));
        }
        return sluice::Status::ok;
    }

  private:
    std::string output_path_;
    std::FILE *out_ = nullptr;
};

}  // namespace

SLUICE_PLUGIN(PrintOffsets, "print-offsets", "1.0.0",
              "Prints each batch's id, time and offset ranges", SLUICE_PLUGIN_WANTS_EMPTY_BATCHES);
