#include "metrics/collect.hpp"

#include "metrics/exporter.hpp"

#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::metrics {

void fill_plugins(RunSnapshot &snapshot, const plugins::PluginChain &chain) {
    snapshot.plugins.clear();
    const auto &instances = chain.instances();
    snapshot.plugins.reserve(instances.size());
    for (size_t slot = 0; slot < instances.size(); ++slot) {
        const plugins::PluginInstance &instance = *instances[slot];
        const plugins::PluginMetrics &m = instance.metrics();
        PluginSnapshot p;
        p.slot = slot;
        p.plugin = instance.name();
        p.generation = chain.generation(slot);
        p.on_probation = chain.on_probation(slot);
        p.batches = m.batches;
        p.records = m.records;
        p.errors = m.errors;
        p.retries = m.retries;
        p.seconds = m.seconds;
        p.call_seconds = m.call_seconds;
        p.custom = m.custom;
        if (const char *version = instance.library().descriptor().version) p.version = version;
        if (auto reload = chain.reload_status(slot)) {
            p.hot_reload = true;
            p.reloads_swapped = reload->swapped;
            p.reloads_rejected = reload->rejected;
            p.reloads_rolled_back = reload->rolled_back;
            if (reload->serving) {
                const auto &f = *reload->serving;
                p.serving = PluginFileSnapshot{f.file, f.version, f.sha256, f.time_ms, {}, {}};
            }
            if (reload->last_refused) {
                const auto &r = *reload->last_refused;
                p.last_refused = PluginFileSnapshot{r.file.file,    r.file.version, r.file.sha256,
                                                    r.file.time_ms, r.result,       r.reason};
            }
        }
        if (const plugins::CanaryShadow *canary = chain.canary())
            for (const auto &c : canary->status())
                if (c.slot == slot)
                    p.canary = CanarySnapshot{plugins::to_string(c.state),
                                              c.file,
                                              c.version,
                                              c.agreed,
                                              c.needed,
                                              c.report,
                                              c.promoted_total,
                                              c.rejected_total};
        if (!p.serving) {
            p.serving = PluginFileSnapshot{instance.library().deployed_path().string(),
                                           p.version,
                                           {},
                                           snapshot.start_time_ms,
                                           {},
                                           {}};
        }
        snapshot.plugins.push_back(std::move(p));
    }
}

void fill_mirror(RunSnapshot &snapshot, const zk::OffsetMirror *mirror) {
    if (!mirror) {
        snapshot.mirror.reset();
        return;
    }
    const zk::MirrorStatus status = mirror->status();
    MirrorSnapshot m;
    m.connected = status.connected;
    m.lag_seconds = std::chrono::duration<double>(status.lag).count();
    m.pending_partitions = status.pending_partitions;
    m.writes = status.writes;
    m.sessions = status.sessions;
    snapshot.mirror = m;
}

void fill_offsets(RunSnapshot &snapshot, const std::vector<OffsetRange> &committed) {
    // Ranges usually come in partition order (direct mode's plans): each is then found at the
    // hint, without a lookup (issue 17: thousands of partitions per batch).
    auto hint = snapshot.next_offsets.begin();
    for (const OffsetRange &r : committed) {
        hint = snapshot.next_offsets.insert_or_assign(hint, r.topic_partition(), r.until_offset);
        ++hint;
    }
}

void publish_run(Exporter *exporter, RunSnapshot &snapshot, RunState state,
                 const plugins::PluginChain &chain, const zk::OffsetMirror *mirror) {
    if (!exporter) return;
    snapshot.state = state;
    fill_plugins(snapshot, chain);
    fill_mirror(snapshot, mirror);
    exporter->publish(snapshot);
}

}  // namespace sluice::metrics
