#include "metrics/collect.hpp"

#include "metrics/exporter.hpp"

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
        p.custom = m.custom;
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
    for (const OffsetRange &r : committed)
        snapshot.next_offsets[r.topic_partition()] = r.until_offset;
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
