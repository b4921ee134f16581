#include "plugins/plugin_chain.hpp"

#include <algorithm>

namespace sluice::plugins {

namespace {

// Views of `tps` for the C hooks; valid while `tps` is.
std::vector<sluice_topic_partition_t> to_c(const std::vector<TopicPartition> &tps) {
    std::vector<sluice_topic_partition_t> out;
    out.reserve(tps.size());
    for (const auto &tp : tps) {
        out.push_back(sluice_topic_partition_t{sizeof(sluice_topic_partition_t), tp.topic.c_str(),
                                               tp.partition});
    }
    return out;
}

}  // namespace

void PluginChain::add(std::unique_ptr<PluginInstance> instance) {
    instances_.push_back(std::move(instance));
}

ChainResult PluginChain::process(const sluice_batch_t &batch) {
    const sluice_batch_t *current = &batch;
    sluice_batch_t passed_on{};
    for (auto &inst : instances_) {
        if (current->record_count == 0 && !inst->wants_empty_batches()) continue;
        ChainResult r = inst->process_batch(*current);
        if (!r.ok()) return r;
        if (inst->is_transform()) {
            // The emitted records live in inst's buffer until its next process_batch, which is
            // after every later plugin of this chain has seen them.
            passed_on = inst->emitted_batch(*current);
            current = &passed_on;
        }
    }
    return {};
}

ChainResult PluginChain::flush(const sluice_batch_t &batch) {
    for (auto &inst : instances_) {
        ChainResult r = inst->flush(batch);
        if (!r.ok()) return r;
    }
    return {};
}

ChainResult PluginChain::partitions_assigned(const std::vector<TopicPartition> &tps) {
    auto c = to_c(tps);
    for (auto &inst : instances_) {
        ChainResult r = inst->partitions_assigned(c.data(), c.size());
        if (!r.ok()) return r;
    }
    return {};
}

ChainResult PluginChain::partitions_revoked(const std::vector<TopicPartition> &tps) {
    auto c = to_c(tps);
    for (auto &inst : instances_) {
        ChainResult r = inst->partitions_revoked(c.data(), c.size());
        if (!r.ok()) return r;
    }
    return {};
}

std::map<TopicPartition, int64_t> PluginChain::resume_offsets(
    const std::vector<TopicPartition> &tps) {
    std::map<TopicPartition, int64_t> out;
    auto c = to_c(tps);
    std::vector<int64_t> offsets(tps.size());
    for (auto &inst : instances_) {
        if (!inst->has_resume_offsets()) continue;
        ChainResult r = inst->resume_offsets(c.data(), c.size(), offsets.data());
        if (!r.ok()) {
            throw plugin_error(inst->name(), inst->library().path().string(),
                               "resume_offsets failed: " + r.message,
                               "fix the plugin's offset store, or start from a --checkpoint or "
                               "explicit --from-offsets");
        }
        for (size_t i = 0; i < tps.size(); ++i) {
            if (offsets[i] < 0) continue;  // -1: this plugin has nothing for the partition
            auto [it, inserted] = out.emplace(tps[i], offsets[i]);
            if (!inserted) it->second = std::min(it->second, offsets[i]);
        }
    }
    return out;
}

}  // namespace sluice::plugins
