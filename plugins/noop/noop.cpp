// noop: reads every record's value length and adds it up, nothing else. The
// benchmark's plugin: it measures the host, so it must cost next to nothing
// while still touching each record (a plugin that ignored the batch would let
// a host skip work unnoticed).

#include <sluice/plugin.hpp>

#include <cstdint>
#include <vector>

namespace {

/// Lifecycle: one per instance; process on the batch thread.
class Noop {
  public:
    // noop takes no settings: a key in [plugin.noop] is a mistake the host reports.
    static std::vector<sluice::ConfigKey> config_keys() { return {}; }

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        for (const sluice::Record &record : batch.records()) {
            if (auto v = record.value()) value_bytes_ += v->size();
        }
        return sluice::Status::ok;
    }

  private:
    uint64_t value_bytes_ = 0;  // kept in the instance so the loop is not optimised away
};

}  // namespace

SLUICE_PLUGIN(Noop, "noop", "1.0.0", "Touches every record and does nothing else", 0);
