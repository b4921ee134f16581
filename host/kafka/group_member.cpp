#include "kafka/group_member.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "kafka/consumer_close.hpp"
#include "kafka/kafka_conf.hpp"

namespace sluice::kafka {

namespace {

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t *parts) {
    std::vector<TopicPartition> out;
    for (int i = 0; parts && i < parts->cnt; ++i)
        out.push_back({parts->elems[i].topic, parts->elems[i].partition});
    std::sort(out.begin(), out.end());
    return out;
}

std::string list_text(const std::vector<TopicPartition> &tps) {
    std::string out;
    for (const auto &tp : tps) out += (out.empty() ? "" : ", ") + tp.to_string();
    return out.empty() ? "nothing" : out;
}

bool cooperative(rd_kafka_t *rk) {
    return std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
}

}  // namespace

GroupMember::GroupMember(GroupMemberSettings settings, RevokeFn on_revoke)
    : settings_(std::move(settings)), on_revoke_(std::move(on_revoke)) {
    if (settings_.brokers.empty()) throw KafkaError("no Kafka brokers given: set --brokers");
    ConfPtr conf(rd_kafka_conf_new());
    // Ours first, then the user's (another assignor, a session timeout), except what the
    // plans rest on: commits are ours, made only after a plan or a batch.
    const std::vector<std::pair<std::string, std::string>> defaults = {
        {"bootstrap.servers", settings_.brokers},
        {"client.id", "sluice-group-direct"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        // New partitions, and new topics matching a ^regex, are seen at the next refresh.
        {"topic.metadata.refresh.interval.ms", "5000"},
        {"fetch.wait.max.ms", "10"},
        {kReconnectBackoffMaxKey, kReconnectBackoffMaxMs},
    };
    for (const auto &[key, value] : defaults) set_conf(conf.get(), key, value);
    for (const auto &[key, value] : settings_.kafka) set_conf(conf.get(), key, value);
    set_conf(conf.get(), "group.id", settings_.group);
    set_conf(conf.get(), "enable.auto.commit", "false");
    set_conf(conf.get(), "enable.auto.offset.store", "false");
    // The group's state, for settled(); the statistics go nowhere else (cheap with one
    // member's few partitions). Not the user's to change: without them nothing is planned.
    set_conf(conf.get(), "statistics.interval.ms", "100");
    rd_kafka_conf_set_log_cb(conf.get(), log_to_spdlog);
    rd_kafka_conf_set_error_cb(conf.get(), warn_on_error);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &GroupMember::rebalance_trampoline);
    rd_kafka_conf_set_stats_cb(conf.get(), &GroupMember::stats_trampoline);
    rd_kafka_conf_set_opaque(conf.get(), this);
    rk_ = make_handle(RD_KAFKA_CONSUMER, std::move(conf)).release();
    rd_kafka_poll_set_consumer(rk_);

    PartitionListPtr topics(
        rd_kafka_topic_partition_list_new(static_cast<int>(settings_.topics.size())));
    for (const auto &t : settings_.topics)
        rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics.get())) {
        rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        rk_ = nullptr;
        throw KafkaError("cannot join group '" + settings_.group + "': " + rd_kafka_err2str(err) +
                         ": check --topics and --group");
    }
}

GroupMember::~GroupMember() {
    if (!rk_) return;
    if (!closed_) {
        await_first_assignment(rk_, [this] { return ever_assigned_; });
        destroy_would_abort_ = destroy_would_abort(rk_, ever_assigned_);
    }
    destroy_consumer(rk_, destroy_would_abort_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE,
                     "group '" + settings_.group + "'");
}

int GroupMember::stats_trampoline(rd_kafka_t *, char *json, size_t len, void *opaque) {
    auto *self = static_cast<GroupMember *>(opaque);
    if (const auto settled = group_settled_in_stats(json, len)) self->settled_ = *settled;
    return 0;  // librdkafka frees the JSON
}

void GroupMember::rebalance_trampoline(rd_kafka_t *, rd_kafka_resp_err_t err,
                                       rd_kafka_topic_partition_list_t *parts, void *opaque) {
    static_cast<GroupMember *>(opaque)->on_rebalance(err, parts);
}

void GroupMember::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts) {
    ++rebalances_;
    const bool incremental = cooperative(rk_);
    const auto tps = to_vector(parts);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ever_assigned_ = true;
        spdlog::info("group '{}' assigned {}", settings_.group, list_text(tps));
        if (incremental) {
            if (rd_kafka_error_t *e = rd_kafka_incremental_assign(rk_, parts)) {
                spdlog::error("group '{}': incremental assign failed: {}", settings_.group,
                              rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return;
            }
        } else {
            rd_kafka_assign(rk_, parts);
        }
        // The DirectReader reads them; this handle must not fetch them too.
        rd_kafka_pause_partitions(rk_, parts);
        for (const auto &tp : tps)
            if (owned_.insert(tp).second) assigned_.push_back(tp);
        return;
    }
    const bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk_);
    spdlog::info("group '{}' revoked {}{}", settings_.group, list_text(tps),
                 lost ? " (lost: another member owns them now)" : "");
    std::vector<TopicPartition> leaving;
    for (const auto &tp : tps)
        if (owned_.count(tp)) leaving.push_back(tp);
    if (!leaving.empty() && on_revoke_) on_revoke_(leaving, lost);
    for (const auto &tp : tps) {
        owned_.erase(tp);
        assigned_.erase(std::remove(assigned_.begin(), assigned_.end(), tp), assigned_.end());
    }
    if (incremental) {
        if (rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk_, parts)) {
            spdlog::error("group '{}': incremental unassign failed: {}", settings_.group,
                          rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk_, nullptr);
        owned_.clear();
    }
}

std::vector<TopicPartition> GroupMember::poll() {
    // The partitions are paused, so the queue holds events and errors only; a message that
    // slipped in before the pause is dropped (the DirectReader reads it).
    for (int i = 0; i < 100; ++i) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk_, 0);
        if (!m) break;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            spdlog::debug("group '{}': {}", settings_.group, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    std::vector<TopicPartition> out;
    out.swap(assigned_);
    return out;
}

std::map<TopicPartition, std::string> GroupMember::commit(
    const std::vector<OffsetCommit> &offsets) {
    std::map<TopicPartition, std::string> failed;
    if (offsets.empty()) return failed;
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto &o : offsets) {
        auto *e = rd_kafka_topic_partition_list_add(list.get(), o.tp.topic.c_str(), o.tp.partition);
        e->offset = o.offset;
        if (!o.metadata.empty()) {
            e->metadata = std::malloc(o.metadata.size());  // freed by the list
            std::memcpy(e->metadata, o.metadata.data(), o.metadata.size());
            e->metadata_size = o.metadata.size();
        }
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list.get(), 0);
    for (int i = 0; i < list->cnt; ++i) {
        const auto &e = list->elems[i];
        if (e.err || err) failed[{e.topic, e.partition}] = rd_kafka_err2str(e.err ? e.err : err);
    }
    return failed;
}

std::map<TopicPartition, CommittedOffset> GroupMember::committed(
    const std::vector<TopicPartition> &tps, std::chrono::milliseconds timeout) {
    std::map<TopicPartition, CommittedOffset> out;
    if (tps.empty()) return out;
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
    for (const auto &tp : tps)
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
            RD_KAFKA_OFFSET_INVALID;
    const rd_kafka_resp_err_t err = rd_kafka_committed(
        rk_, list.get(), static_cast<int>(std::max<int64_t>(timeout.count(), 1)));
    if (err)
        throw KafkaError("cannot read the committed offsets of group '" + settings_.group +
                         "': " + rd_kafka_err2str(err) + ": check that the brokers are up");
    for (int i = 0; i < list->cnt; ++i) {
        const auto &e = list->elems[i];
        if (e.err)
            throw KafkaError("cannot read the committed offset of group '" + settings_.group +
                             "' for " + e.topic + ":" + std::to_string(e.partition) + ": " +
                             rd_kafka_err2str(e.err));
        if (e.offset < 0) continue;
        CommittedOffset c;
        c.offset = e.offset;
        if (e.metadata && e.metadata_size > 0)
            c.metadata.assign(static_cast<const char *>(e.metadata), e.metadata_size);
        out[{e.topic, e.partition}] = std::move(c);
    }
    return out;
}

void GroupMember::close() {
    if (closed_ || !rk_) return;
    await_first_assignment(rk_, [this] { return ever_assigned_; });
    destroy_would_abort_ = destroy_would_abort(rk_, ever_assigned_);
    closed_ = true;
    if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_))
        spdlog::warn("group '{}': leaving the group: {}", settings_.group, rd_kafka_err2str(err));
}

}  // namespace sluice::kafka
