#pragma once
// The plugins of one run, called in order for every batch.

#include <sluice/sluice.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "common/types.hpp"
#include "plugins/plugin_instance.hpp"

namespace sluice::plugins {

/// The plugins of one run, in order.
///
/// Lifecycle: filled with add() on the control thread before the first batch; instances are
/// destroyed (in reverse order) with the chain. Thread: after setup, used only on the batch
/// thread; calls never overlap.
class PluginChain {
  public:
    void add(std::unique_ptr<PluginInstance> instance);
    size_t size() const { return instances_.size(); }
    const std::vector<std::unique_ptr<PluginInstance>> &instances() const { return instances_; }

    /// Runs each plugin in order. A plugin flagged SLUICE_PLUGIN_TRANSFORM passes on only what
    /// it emitted (copied by the host into storage owned by that instance, as a batch with the
    /// same id, time, flags and ranges); any other plugin passes its input on unchanged. A
    /// plugin is not called for a batch with no records unless it has
    /// SLUICE_PLUGIN_WANTS_EMPTY_BATCHES. Stops at the first non-OK status.
    ChainResult process(const sluice_batch_t &batch);
    /// Each plugin's optional flush, with the source batch. Stops at the first non-OK.
    ChainResult flush(const sluice_batch_t &batch);
    ChainResult partitions_assigned(const std::vector<TopicPartition> &tps);
    ChainResult partitions_revoked(const std::vector<TopicPartition> &tps);
    /// Optional resume_offsets of plugins that store their own: per partition, the minimum
    /// offset any plugin reports (partitions nobody reports are absent). Throws PluginError
    /// when a plugin's hook fails.
    std::map<TopicPartition, int64_t> resume_offsets(const std::vector<TopicPartition> &tps);

  private:
    std::vector<std::unique_ptr<PluginInstance>> instances_;
};

}  // namespace sluice::plugins
