// Test plugin for the C++ wrapper, built as C++20: every optional hook, a
// transform that emits each record with "echo:" before its value, metrics and
// logging; the hooks leave traces the test reads back through the host.

#include <sluice/plugin.hpp>

#include <span>
#include <string>

static_assert(__cplusplus >= 202002L, "this test plugin must be built as C++20");

namespace {

class Echo {
  public:
    explicit Echo(sluice::Host &host) : host_(host) { host_.log(sluice::LogLevel::info, "hello"); }

    void process(const sluice::Batch &batch) {  // void: means ok
        std::size_t n = 0;
        for (const sluice::Record &r : batch.records()) {
            if (r.topic() == "passthrough") {
                host_.emit(r);
            } else {
                sluice::RecordData d = r.data();
                std::string value;
                if (d.value) value = "echo:" + std::string(*d.value);
                if (d.value) d.value = value;
                host_.emit(d);
            }
            ++n;
        }
        host_.counter("records", static_cast<double>(n));
        host_.gauge("last_batch", static_cast<double>(batch.id()));
        std::string ranges;
        for (const sluice::OffsetRange &r : batch.ranges()) {
            ranges += std::string(r.topic) + ":" + std::to_string(r.partition) + ":" +
                      std::to_string(r.count()) + " ";
        }
        host_.log(sluice::LogLevel::debug,
                  "ranges " + ranges + (batch.is_replay() ? "replay" : ""));
    }

    sluice::Status partitions_assigned(std::span<const sluice::TopicPartition> parts) {
        for (const auto &tp : parts) host_.log(sluice::LogLevel::info, "assigned " + name(tp));
        return sluice::Status::ok;
    }
    sluice::Status partitions_revoked(std::span<const sluice::TopicPartition> parts) {
        for (const auto &tp : parts) host_.log(sluice::LogLevel::info, "revoked " + name(tp));
        return sluice::Status::ok;
    }
    sluice::Status flush(const sluice::Batch &batch) {
        host_.log(sluice::LogLevel::info, "flush " + std::to_string(batch.id()));
        return sluice::Status::ok;
    }
    sluice::Status snapshot_state(sluice::StateWriter &out) {
        out.write("state:");
        out.write(state_);
        return sluice::Status::ok;
    }
    sluice::Status restore_state(std::string_view state) {
        state_ = std::string(state);
        return sluice::Status::ok;
    }
    sluice::Status resume_offsets(std::span<const sluice::TopicPartition> parts,
                                  std::span<int64_t> offsets) {
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (parts[i].topic == "known") offsets[i] = 100 + parts[i].partition;
        }
        return sluice::Status::ok;
    }

  private:
    static std::string name(const sluice::TopicPartition &tp) {
        return std::string(tp.topic) + ":" + std::to_string(tp.partition);
    }
    sluice::Host &host_;
    std::string state_;
};

}  // namespace

SLUICE_PLUGIN(Echo, "wrapper-echo", "0.0.2", "echoes records", SLUICE_PLUGIN_TRANSFORM);
