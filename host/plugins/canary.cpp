#include "plugins/canary.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_reloader.hpp"

namespace sluice::plugins {

namespace {

const sluice_record_t &record_at(const sluice_batch_t &b, size_t i) {
    return *reinterpret_cast<const sluice_record_t *>(reinterpret_cast<const char *>(b.records) +
                                                      i * b.record_stride);
}

const sluice_header_t &header_at(const sluice_record_t &r, size_t i) {
    return *reinterpret_cast<const sluice_header_t *>(reinterpret_cast<const char *>(r.headers) +
                                                      i * r.header_stride);
}

bool same_bytes(const void *a, size_t an, const void *b, size_t bn) {
    if ((a == nullptr) != (b == nullptr)) return false;
    return an == bn && (an == 0 || std::memcmp(a, b, an) == 0);
}

std::string shown(const void *p, size_t n) {
    if (p == nullptr) return "null";
    std::string out = "\"";
    const auto *c = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < std::min<size_t>(n, 60); ++i)
        out += (c[i] >= 0x20 && c[i] < 0x7f && c[i] != '"') ? std::string(1, char(c[i]))
                                                            : fmt::format("\\x{:02x}", c[i]);
    out += n > 60 ? "\"..." : "\"";
    return out;
}

/// What differs between two records, or empty.
std::string record_difference(const sluice_record_t &a, const sluice_record_t &b) {
    if (std::string_view(a.topic ? a.topic : "") != std::string_view(b.topic ? b.topic : "") ||
        a.partition != b.partition || a.offset != b.offset)
        return fmt::format("serving {}:{}@{}, canary {}:{}@{}", a.topic ? a.topic : "", a.partition,
                           a.offset, b.topic ? b.topic : "", b.partition, b.offset);
    if (a.timestamp_ms != b.timestamp_ms)
        return fmt::format("timestamp: serving {}, canary {}", a.timestamp_ms, b.timestamp_ms);
    if (!same_bytes(a.key, a.key_len, b.key, b.key_len))
        return fmt::format("key: serving {}, canary {}", shown(a.key, a.key_len),
                           shown(b.key, b.key_len));
    if (!same_bytes(a.value, a.value_len, b.value, b.value_len))
        return fmt::format("value: serving {}, canary {}", shown(a.value, a.value_len),
                           shown(b.value, b.value_len));
    if (a.header_count != b.header_count)
        return fmt::format("headers: serving {}, canary {}", a.header_count, b.header_count);
    for (size_t h = 0; h < a.header_count; ++h) {
        const auto &x = header_at(a, h);
        const auto &y = header_at(b, h);
        if (std::string_view(x.name ? x.name : "") != std::string_view(y.name ? y.name : "") ||
            !same_bytes(x.value, x.value_len, y.value, y.value_len))
            return fmt::format("header {}: serving {}={}, canary {}={}", h, x.name ? x.name : "",
                               shown(x.value, x.value_len), y.name ? y.name : "",
                               shown(y.value, y.value_len));
    }
    return {};
}

}  // namespace

const char *to_string(CanaryStatus::State state) {
    switch (state) {
        case CanaryStatus::State::shadowing:
            return "shadowing";
        case CanaryStatus::State::promoted:
            return "promoted";
        case CanaryStatus::State::rejected:
            return "rejected";
        default:
            return "none";
    }
}

std::string compare_outputs(const ChainResult &serving, const sluice_batch_t *serving_out,
                            const ChainResult &canary, const sluice_batch_t *canary_out) {
    if (serving.status != canary.status)
        return fmt::format("the serving generation returned {}, the canary {}{}",
                           status_name(serving.status), status_name(canary.status),
                           canary.message.empty() ? "" : " (" + canary.message + ")");
    if (serving_out == nullptr || canary_out == nullptr || !serving.ok()) return {};
    if (serving_out->record_count != canary_out->record_count)
        return fmt::format("the serving generation emitted {} records, the canary {}",
                           serving_out->record_count, canary_out->record_count);
    for (size_t i = 0; i < serving_out->record_count; ++i) {
        auto diff = record_difference(record_at(*serving_out, i), record_at(*canary_out, i));
        if (!diff.empty()) return fmt::format("emitted record {} differs: {}", i, diff);
    }
    return {};
}

namespace {
std::mutex registry_mutex;
std::vector<CanaryShadow *> registry;  // the live ones, for promote_all
}  // namespace

CanaryShadow::CanaryShadow() {
    std::lock_guard lock(registry_mutex);
    registry.push_back(this);
}

CanaryShadow::~CanaryShadow() {
    std::lock_guard lock(registry_mutex);
    std::erase(registry, this);
}

std::string CanaryShadow::promote_all() {
    std::vector<std::string> promoted;
    std::lock_guard lock(registry_mutex);
    for (CanaryShadow *shadow : registry)
        for (const CanaryStatus &st : shadow->status())
            if (st.state == CanaryStatus::State::shadowing && shadow->promote(st.slot))
                promoted.push_back(st.plugin);
    if (promoted.empty()) return "no canary is in shadow: nothing to promote";
    spdlog::info("POST /control/promote: promoting the canary of {} at the next batch",
                 fmt::format("{}", fmt::join(promoted, ", ")));
    return fmt::format("promoting the canary of {} at the next batch", fmt::join(promoted, ", "));
}

void CanaryShadow::add_slot(const std::string &plugin) {
    std::lock_guard lock(mutex_);
    names_.push_back(plugin);
}

void CanaryShadow::set_reloader(PluginReloader *reloader) {
    std::lock_guard lock(registry_mutex);
    reloader_ = reloader;
}

std::string CanaryShadow::deploy_request(std::string_view query) {
    std::string name;
    for (size_t at = 0; at <= query.size();) {
        size_t end = query.find('&', at);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view pair = query.substr(at, end - at);
        if (pair.substr(0, 7) == "plugin=") name = std::string(pair.substr(7));
        at = end + 1;
    }
    if (name.empty())
        throw std::invalid_argument(
            "POST /control/canary needs ?plugin=NAME: the plugin of the chain whose "
            "NAME.canary.so (or else NAME.so) is deployed as a canary");
    std::vector<std::string> known;
    bool found = false;
    {
        std::lock_guard lock(registry_mutex);
        for (CanaryShadow *shadow : registry) {
            if (!shadow->reloader_) continue;
            std::vector<std::string> names;
            {
                std::lock_guard shadow_lock(shadow->mutex_);
                names = shadow->names_;
            }
            known.insert(known.end(), names.begin(), names.end());
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                shadow->reloader_->request_canary(name);
                found = true;
            }
        }
    }
    if (!found)
        throw std::invalid_argument(
            known.empty() ? "no plugin chain runs with hot reload: canaries need hot-reload = true"
                          : fmt::format("no plugin '{}' in the chain ({}): name one of those", name,
                                        fmt::join(known, ", ")));
    spdlog::info("POST /control/canary: deploying a canary of plugin '{}'", name);
    return fmt::format(
        "deploying {0}.canary.so (or else {0}.so) as a canary of plugin '{0}' from the next "
        "batch: the log and /status say how it goes",
        name);
}

std::unique_ptr<PluginInstance> CanaryShadow::offer(size_t slot,
                                                    std::unique_ptr<PluginInstance> canary,
                                                    uint64_t batches, uint64_t partitions) {
    std::lock_guard lock(mutex_);
    CanaryStatus &st = status_[slot];
    st.state = CanaryStatus::State::shadowing;
    st.slot = slot;
    st.plugin = canary->name();
    st.file = canary->library().deployed_path().string();
    st.version =
        canary->library().descriptor().version ? canary->library().descriptor().version : "";
    st.agreed = 0;
    st.needed = batches;
    st.report.clear();
    Running next;
    next.canary = std::move(canary);
    next.needed = batches;
    next.slice_size = std::max<uint64_t>(partitions, 1);
    std::unique_ptr<PluginInstance> displaced = std::move(offered_[slot].canary);
    offered_[slot] = std::move(next);
    active_.store(true, std::memory_order_release);
    return displaced;
}

bool CanaryShadow::promote(size_t slot) {
    std::lock_guard lock(mutex_);
    const auto it = status_.find(slot);
    if (it == status_.end() || it->second.state != CanaryStatus::State::shadowing) return false;
    promote_[slot] = true;
    return true;
}

std::vector<CanaryStatus> CanaryShadow::status() const {
    std::lock_guard lock(mutex_);
    std::vector<CanaryStatus> out;
    for (const auto &[slot, st] : status_) out.push_back(st);
    return out;
}

void CanaryShadow::finish(PluginChain &chain, size_t slot, bool promoted,
                          const std::string &report) {
    auto node = running_.extract(slot);
    std::unique_ptr<PluginInstance> canary = std::move(node.mapped().canary);
    const std::string name = canary->name();
    const std::string file = canary->library().deployed_path().string();
    {
        std::lock_guard lock(mutex_);
        CanaryStatus &st = status_[slot];
        st.state = promoted ? CanaryStatus::State::promoted : CanaryStatus::State::rejected;
        st.report = report;
        ++(promoted ? st.promoted_total : st.rejected_total);
        update_active();
    }
    if (promoted && !canary->is_transform()) {
        // A sink's (promote_slice): it has every partition now and takes the slot at once.
        spdlog::info("canary of plugin '{}' ({}) promoted: {}", name, file, report);
        take_over(chain, slot, std::move(canary));
    } else if (promoted) {
        spdlog::info("canary of plugin '{}' ({}) promoted: {}; it serves from the next batch", name,
                     file, report);
        auto displaced = chain.offer_replacement(slot, std::move(canary));
        canary = std::move(displaced);  // a hot-reload replacement that was waiting
    } else {
        spdlog::error("canary of plugin '{}' ({}) rejected: {}; generation {} keeps serving", name,
                      file, report, chain.generation(slot));
    }
    if (canary) {
        if (auto *reloader = chain.reloader()) {
            reloader->retire(std::move(canary));  // destroyed off the batch path
        } else {
            canary.reset();
        }
    }
}

void CanaryShadow::update_active() {
    active_.store(!offered_.empty() || !running_.empty() || !partial_.empty(),
                  std::memory_order_release);
}

void CanaryShadow::take_offered(PluginChain &chain, size_t slot) {
    std::optional<Running> next;
    bool promote_now = false;
    {
        std::lock_guard lock(mutex_);
        if (auto it = offered_.find(slot); it != offered_.end()) {
            next = std::move(it->second);
            offered_.erase(it);
        }
        if (auto it = promote_.find(slot); it != promote_.end()) {
            promote_now = true;
            promote_.erase(it);
        }
    }
    if (next) {
        if (auto old = running_.find(slot); old != running_.end()) {
            // Displaced by a newer canary: a sink's slice goes back to the serving generation.
            if (!old->second.slice.empty()) return_slice(chain, slot, old->second);
            std::unique_ptr<PluginInstance> displaced = std::move(old->second.canary);
            running_.erase(old);
            if (displaced && chain.reloader()) chain.reloader()->retire(std::move(displaced));
        }
        running_[slot] = std::move(*next);
    }
    if (promote_now)
        if (auto run = running_.find(slot); run != running_.end()) run->second.promote_now = true;
    const auto it = running_.find(slot);
    if (it == running_.end() || it->second.started) return;
    const bool sink = !it->second.canary->is_transform();
    if (sink != !chain.instances()[slot]->is_transform())
        finish(chain, slot, false,
               fmt::format("it is a {}, generation {} a {}: deploy it as {}.so for a hot reload",
                           sink ? "sink" : "transform", chain.generation(slot),
                           sink ? "transform" : "sink", it->second.canary->name()));
}

void CanaryShadow::shadow(PluginChain &chain, size_t slot, const sluice_batch_t &input,
                          const ChainResult &served) {
    take_offered(chain, slot);
    const auto it = running_.find(slot);
    // A sink's canary never runs in shadow: it waits for its slice (dispatch).
    if (it == running_.end() || !it->second.canary->is_transform()) return;
    Running &run = it->second;
    PluginInstance &serving = *chain.instances()[slot];
    if (run.promote_now) {
        finish(chain, slot, true,
               fmt::format("promoted on request after {} agreeing batches", run.agreed));
        return;
    }
    if (served.status == SLUICE_RETRY) return;  // compared on the retry
    if (!run.started) {
        // From the serving generation's state after this batch: the canary takes part from the
        // next batch on, as if it had served every batch before.
        run.started = true;
        const auto &tps = chain.assignment();
        const auto c = c_partitions(tps);
        ChainResult handed = run.canary->partitions_assigned(c.data(), c.size());
        if (handed.ok() && serving.has_state_hooks() && run.canary->has_state_hooks()) {
            std::string state;
            handed = serving.snapshot_state(&state);
            if (handed.ok()) handed = run.canary->restore_state(state);
        }
        if (!handed.ok())
            finish(chain, slot, false,
                   "its start (assignment, state hand-over) failed: " + handed.message);
        else
            spdlog::info(
                "canary of plugin '{}' ({} {}) is shadowing generation {}: {} batches are "
                "compared, its output is discarded",
                serving.name(), run.canary->library().deployed_path().string(),
                run.canary->library().descriptor().version
                    ? run.canary->library().descriptor().version
                    : "?",
                chain.generation(slot), run.needed);
        return;
    }
    const ChainResult ran = run.canary->process_batch(input);
    sluice_batch_t serving_out{}, canary_out{};
    const bool transform = serving.is_transform() && run.canary->is_transform();
    if (transform) {
        serving_out = serving.emitted_batch(input);
        canary_out = run.canary->emitted_batch(input);
    }
    const std::string diff = compare_outputs(served, transform ? &serving_out : nullptr, ran,
                                             transform ? &canary_out : nullptr);
    if (!diff.empty()) {
        finish(chain, slot, false,
               fmt::format("batch {} (after {} agreeing): {}", input.batch_id, run.agreed, diff));
        return;
    }
    ++run.agreed;
    {
        std::lock_guard lock(mutex_);
        status_[slot].agreed = run.agreed;
    }
    if (run.agreed >= run.needed)
        finish(chain, slot, true,
               fmt::format("its output and return codes agreed with generation {} on {} batches",
                           chain.generation(slot), run.agreed));
}

}  // namespace sluice::plugins
