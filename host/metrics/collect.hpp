#pragma once
// Fills the parts of a RunSnapshot that come from other subsystems. Both run loops (direct and
// receiver mode) call these on their batch thread after a committed batch, then publish.

#include <vector>

#include "common/types.hpp"
#include "metrics/snapshot.hpp"

namespace sluice::plugins {
class PluginChain;
}
namespace sluice::zk {
class OffsetMirror;
}

namespace sluice::metrics {

/// Replaces snapshot.plugins with the serving instance of every slot of `chain`: its name,
/// generation, probation and PluginMetrics. Batch thread (the chain's own thread).
void fill_plugins(RunSnapshot &snapshot, const plugins::PluginChain &chain);

/// Sets snapshot.mirror from mirror->status(), or clears it when `mirror` is null. Any thread.
void fill_mirror(RunSnapshot &snapshot, const zk::OffsetMirror *mirror);

class Exporter;

/// What both run loops do to publish: sets the state, fills the plugins and the mirror, and hands
/// a copy to `exporter` (nothing when it is null). Batch thread.
void publish_run(Exporter *exporter, RunSnapshot &snapshot, RunState state,
                 const plugins::PluginChain &chain, const zk::OffsetMirror *mirror);

/// Sets the committed next offset of each range's partition (its until_offset).
void fill_offsets(RunSnapshot &snapshot, const std::vector<OffsetRange> &committed);

}  // namespace sluice::metrics
