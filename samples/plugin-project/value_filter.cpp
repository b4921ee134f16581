// value-filter: a transform that passes on only the records whose value
// contains a configured text. A complete plugin written with the Sluice C++
// wrapper (sluice/plugin.hpp): one class, one SLUICE_PLUGIN line.
//
// Config ([plugin.value-filter] section of the sluice config file):
//   contains = TEXT     required; records whose value holds TEXT go downstream
//   invert   = true     optional; pass on the records that do NOT hold TEXT

#include <sluice/plugin.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

/// One instance per chain position. Constructed and destroyed on the host's
/// control thread; process() runs on the batch thread, one batch at a time.
class ValueFilter {
  public:
    // Thread: control thread. Throwing here fails plugin creation; the host
    // prints the message, so make it say how to fix the problem.
    explicit ValueFilter(sluice::Host &host) : host_(host) {
        auto contains = host.config("contains");
        if (!contains || contains->empty()) {
            throw sluice::Fatal(
                "value-filter: [plugin.value-filter] contains is not set: set it to the text "
                "to look for");
        }
        // Copy: config views are valid until destroy, but a std::string is simpler to keep.
        needle_ = std::string(*contains);
        invert_ = host.config_bool("invert", false);
    }

    // The keys of [plugin.value-filter] (optional, ABI 1.1): the host then refuses any
    // other key there with "did you mean", and `sluice plugins DIR` lists these.
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"contains", sluice::ConfigType::string, std::nullopt,
                 "required; records whose value holds this text go downstream"},
                {"invert", sluice::ConfigType::boolean, "false",
                 "pass on the records that do NOT hold the text"}};
    }

    // Thread: batch thread. Records are views valid only during this call; emit()
    // copies what it passes on. Returning (or throwing sluice::Retry / Skip /
    // Fatal) tells the host how the batch went.
    sluice::Status process(const sluice::Batch &batch) {
        std::size_t passed = 0;
        for (const sluice::Record &record : batch.records()) {
            auto value = record.value();  // nullopt for a null value
            bool match = value && value->find(needle_) != std::string_view::npos;
            if (match != invert_) {
                host_.emit(record);  // unchanged, headers and all
                ++passed;
            }
        }
        host_.counter("records_passed", static_cast<double>(passed));
        host_.counter("records_dropped", static_cast<double>(batch.size() - passed));
        return sluice::Status::ok;
    }

    // Other optional hooks (flush, snapshot_state, restore_state, partitions_assigned,
    // partitions_revoked, resume_offsets) are found at compile time: this class has
    // none, so the host sees them as absent. docs/plugins.md gives their signatures.

  private:
    sluice::Host &host_;
    std::string needle_;
    bool invert_ = false;
};

}  // namespace

// The library's one export. SLUICE_PLUGIN_TRANSFORM: downstream plugins see only
// the records emitted here, not the input.
SLUICE_PLUGIN(ValueFilter, "value-filter", "1.0.0",
              "Passes on the records whose value contains a text", SLUICE_PLUGIN_TRANSFORM);
