#include "replay/replay_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <functional>
#include <set>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/entries.hpp"
#include "checkpoint/file_format.hpp"
#include "checkpoint/files.hpp"
#include "common/data_loss_error.hpp"
#include "ingest/direct_reader.hpp"
#include "wal/wal_format.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::replay {

namespace fs = std::filesystem;

ReplayInput::ReplayInput() = default;
ReplayInput::~ReplayInput() = default;
ReplayInput::ReplayInput(ReplayInput &&) noexcept = default;
ReplayInput &ReplayInput::operator=(ReplayInput &&) noexcept = default;

const sluice_record_t *ReplayInput::records() const {
    if (fetched) return fetched->records();
    return block_records.empty() ? nullptr : block_records.data();
}

size_t ReplayInput::record_count() const {
    return fetched ? fetched->record_count() : block_records.size();
}

namespace {

/// "A..B" or "A, C..D" for a set of ids, at most a few runs.
template <typename Id>
std::string id_runs(const std::set<Id> &ids) {
    if (ids.empty()) return "none";
    std::vector<std::string> runs;
    auto it = ids.begin();
    while (it != ids.end()) {
        Id first = *it, last = *it;
        for (++it; it != ids.end() && *it == last + 1; ++it) last = *it;
        runs.push_back(first == last ? fmt::format("{}", first)
                                     : fmt::format("{}..{}", first, last));
    }
    if (runs.size() > 6) {
        runs.erase(runs.begin() + 3, runs.end() - 2);
        runs.insert(runs.begin() + 3, "...");
    }
    return fmt::format("{}", fmt::join(runs, ", "));
}

std::set<int64_t> entry_ids(const fs::path &log_dir) {
    std::set<int64_t> ids;
    std::error_code ec;
    for (fs::directory_iterator it(log_dir, ec), end; !ec && it != end; it.increment(ec))
        if (auto id = checkpoint::detail::parse_batch_id(it->path().filename().string()))
            ids.insert(*id);
    return ids;
}

}  // namespace

ReplayInput read_checkpoint_batch(const fs::path &dir, int64_t id) {
    namespace cd = checkpoint::detail;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw ReplayError(fmt::format(
            "--checkpoint '{}' is not a directory: give the checkpoint directory of the host "
            "(its `checkpoint` key)",
            dir.string()));
    if (!fs::exists(dir / "metadata", ec) || !fs::is_directory(dir / "offsets", ec))
        throw ReplayError(fmt::format(
            "'{}' is not a sluice checkpoint (no metadata file or offsets/ directory): give "
            "the directory of the host's `checkpoint` key",
            dir.string()));
    const bool committed = fs::exists(dir / "commits" / std::to_string(id), ec);
    fs::path entry = dir / "offsets" / std::to_string(id);
    if (!fs::exists(entry, ec)) entry = dir / "commits" / std::to_string(id);
    ReplayInput input;
    try {
        auto bytes = cd::read_file(entry);
        if (!bytes) {
            std::set<int64_t> ids = entry_ids(dir / "offsets");
            for (auto c : entry_ids(dir / "commits")) ids.insert(c);
            throw ReplayError(fmt::format(
                "batch {} is not in the checkpoint '{}': it holds batches {} (a host keeps the "
                "newest 100 and prunes older ones); see `ls {}/offsets`",
                id, dir.string(), id_runs(ids), dir.string()));
        }
        const auto frame = checkpoint::decode_frame(*bytes);
        if (frame.status == checkpoint::DecodedFrame::Status::kUnknownVersion)
            throw ReplayError(fmt::format(
                "{} is in checkpoint format {}, which this sluice cannot read: use the sluice "
                "that wrote it",
                entry.string(), frame.version));
        if (frame.status != checkpoint::DecodedFrame::Status::kOk)
            throw ReplayError(fmt::format("{} is damaged ({}): the plan of batch {} is lost",
                                          entry.string(), frame.problem, id));
        cd::BaseReader bases(dir / "bases");
        int64_t base_id = -1;
        BatchPlan plan;
        try {
            plan = cd::plan_from_json(frame.payload, bases, base_id);
        } catch (const checkpoint::CheckpointError &) {
            throw;
        } catch (const std::exception &e) {
            throw ReplayError(
                fmt::format("{} is damaged (unreadable payload: {})", entry.string(), e.what()));
        }
        if (plan.batch_id != id)
            throw ReplayError(
                fmt::format("{} is damaged: it holds batch {}", entry.string(), plan.batch_id));
        input.batch_id = plan.batch_id;
        input.batch_time_ms = plan.batch_time_ms;
        input.ranges = std::move(plan.ranges);
    } catch (const checkpoint::CheckpointError &e) {
        throw ReplayError(e.what());
    }
    input.source = "checkpoint " + dir.string();
    input.state = committed ? "committed"
                            : "planned, not committed (the host runs it again at its next start)";
    return input;
}

void fetch_from_kafka(ReplayInput &input, const std::string &brokers,
                      std::map<std::string, std::string> kafka, std::chrono::milliseconds timeout) {
    // No group: the reader cannot commit, join or change any group's offsets.
    for (const char *key : {"group.id", "group.instance.id", "enable.auto.commit"})
        kafka.erase(key);
    std::vector<OffsetRange> ranges;
    std::vector<TopicPartition> tps;
    for (const auto &r : input.ranges)
        if (r.count() > 0) {
            ranges.push_back(r);
            tps.push_back(r.topic_partition());
        }
    input.records_from = "Kafka (" + brokers + ")";
    try {
        if (ranges.empty()) return;  // nothing to read: the plugins get an empty batch
        ingest::DirectReader reader({brokers, std::move(kafka), "", 0});
        const auto marks = reader.query_watermarks(tps, timeout);
        for (const auto &r : ranges) {
            const auto it = marks.find(r.topic_partition());
            if (it == marks.end())
                throw ReplayError(fmt::format(
                    "{} has no watermarks on {}: is --brokers the cluster the host reads?",
                    r.topic_partition().to_string(), brokers));
            if (r.from_offset < it->second.low)
                throw ReplayError(fmt::format(
                    "batch {}'s range {} [{}, {}) is no longer retained by Kafka: the partition "
                    "now starts at offset {} (retention deleted the older records), so the "
                    "batch cannot be read again; replay a newer batch",
                    input.batch_id, r.topic_partition().to_string(), r.from_offset, r.until_offset,
                    it->second.low));
            if (r.until_offset > it->second.high)
                throw ReplayError(fmt::format(
                    "batch {}'s range {} [{}, {}) goes past the end of the partition on {} (it "
                    "ends at offset {}): is --brokers the cluster the host reads?",
                    input.batch_id, r.topic_partition().to_string(), r.from_offset, r.until_offset,
                    brokers, it->second.high));
        }
        std::atomic<bool> stop{false};
        input.fetched = reader.fetch(ranges, timeout, stop);
    } catch (const ReplayError &) {
        throw;
    } catch (const DataLossError &e) {
        throw ReplayError(fmt::format(
            "batch {}'s records of {} from offset {} are no longer retained by Kafka (the "
            "partition starts at {}): the batch cannot be read again; replay a newer batch",
            input.batch_id, e.tp.to_string(), e.requested, e.earliest));
    } catch (const std::exception &e) {
        throw ReplayError(
            fmt::format("reading batch {} from {}: {}", input.batch_id, brokers, e.what()));
    }
}

namespace {

/// What the segments of a WAL hold, read without a lock and without cutting anything.
struct WalContents {
    std::map<uint64_t, std::unique_ptr<wal::Block>> blocks;
    std::map<uint64_t, int64_t> done_by;     // block id -> batch that processed it
    std::map<int64_t, wal::PlanMark> plans;  // by batch id
    std::set<int64_t> done_batches;
};

WalContents read_wal(const fs::path &dir, const std::function<bool(uint64_t)> &keep_block) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw ReplayError(fmt::format(
            "--wal-dir '{}' is not a directory: give the wal-dir of the receiver-mode host",
            dir.string()));
    std::map<uint64_t, fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        uint64_t seq = 0;
        if (name.size() == 24 && name.ends_with(".wal") &&
            name.find_first_not_of("0123456789") == 20 &&
            std::from_chars(name.data(), name.data() + 20, seq).ec == std::errc())
            files[seq] = it->path();
    }
    if (ec)
        throw ReplayError(
            fmt::format("cannot list --wal-dir '{}': {}", dir.string(), ec.message()));
    if (files.empty())
        throw ReplayError(
            fmt::format("--wal-dir '{}' holds no WAL segments (NNN.wal): give the wal-dir of the "
                        "receiver-mode host",
                        dir.string()));
    WalContents wal_contents;
    for (auto it = files.begin(); it != files.end(); ++it) {
        std::string bytes;
        try {
            bytes = wal::read_segment_file(it->second);
        } catch (const wal::WalError &e) {
            throw ReplayError(e.what());
        }
        // A torn tail (the host is writing it, or crashed) ends what is read of the segment.
        const auto scan = wal::scan_segment(bytes, std::next(it) == files.end());
        for (const auto &entry : scan.entries) {
            try {
                if (entry.type == wal::EntryType::block) {
                    auto block = wal::Block::parse(std::string(entry.payload));
                    const uint64_t id = block->id;
                    if (keep_block(id)) {
                        wal_contents.blocks[id] = std::move(block);
                    } else {
                        wal_contents.blocks[id] = nullptr;  // known, not kept
                    }
                } else if (entry.type == wal::EntryType::done) {
                    auto mark = wal::decode_done(entry.payload);
                    for (auto id : mark.block_ids) wal_contents.done_by[id] = mark.batch_id;
                    wal_contents.done_batches.insert(mark.batch_id);
                } else if (entry.type == wal::EntryType::plan) {
                    auto mark = wal::decode_plan(entry.payload);
                    wal_contents.plans[mark.batch_id] = std::move(mark);
                }
            } catch (const wal::WalError &e) {
                throw ReplayError(fmt::format("{} is corrupt at byte {}: {}", it->second.string(),
                                              entry.offset, e.what()));
            }
        }
    }
    return wal_contents;
}

/// The ranges of blocks as receiver mode hands them to the plugins: one per partition, in
/// order of first appearance, spanning its blocks.
void fill_from_blocks(ReplayInput &input) {
    std::map<TopicPartition, size_t> index;
    for (const auto &b : input.blocks) {
        auto [it, fresh] = index.try_emplace(b->tp, input.ranges.size());
        if (fresh) {
            input.ranges.push_back(b->range());
        } else {
            auto &r = input.ranges[it->second];
            r.from_offset = std::min(r.from_offset, b->from_offset);
            r.until_offset = std::max(r.until_offset, b->until_offset);
        }
        input.block_records.insert(input.block_records.end(), b->records.begin(), b->records.end());
    }
    input.records_from = "the WAL";
}

std::string block_ids_text(const WalContents &w) {
    std::set<uint64_t> ids;
    for (const auto &[id, block] : w.blocks) ids.insert(id);
    return id_runs(ids);
}

}  // namespace

ReplayInput read_wal_block(const fs::path &dir, uint64_t block) {
    auto w = read_wal(dir, [&](uint64_t id) { return id == block; });
    auto it = w.blocks.find(block);
    if (it == w.blocks.end() || !it->second)
        throw ReplayError(fmt::format(
            "block {} is not in the WAL '{}': it holds blocks {} (a segment is deleted once "
            "every block in it was processed); see `sluice wal inspect {} --blocks`",
            block, dir.string(), block_ids_text(w), dir.string()));
    ReplayInput input;
    input.source = "WAL " + dir.string() + ", block " + std::to_string(block);
    if (auto done = w.done_by.find(block); done != w.done_by.end()) {
        input.batch_id = done->second;
        input.state = "processed by batch " + std::to_string(done->second);
    } else {
        input.state = "pending (not processed yet)";
        for (const auto &[id, plan] : w.plans)
            if (std::find(plan.block_ids.begin(), plan.block_ids.end(), block) !=
                plan.block_ids.end()) {
                input.batch_id = id;
                input.batch_time_ms = plan.batch_time_ms;
                input.state = "planned in batch " + std::to_string(id) + ", not done";
            }
    }
    if (auto plan = w.plans.find(input.batch_id); plan != w.plans.end())
        input.batch_time_ms = plan->second.batch_time_ms;
    if (input.batch_time_ms == 0) input.batch_time_ms = it->second->sealed_ms;
    input.blocks.push_back(std::move(it->second));
    fill_from_blocks(input);
    return input;
}

ReplayInput read_wal_batch(const fs::path &dir, int64_t batch) {
    auto w = read_wal(dir, [](uint64_t) { return true; });
    auto plan = w.plans.find(batch);
    if (plan == w.plans.end()) {
        std::set<int64_t> ids;
        for (const auto &[id, mark] : w.plans) ids.insert(id);
        throw ReplayError(fmt::format(
            "batch {} has no plan in the WAL '{}' (plans of batches {} are there; a plan goes "
            "with its segment once the batch is done): replay one of its blocks with --block N "
            "(see `sluice wal inspect {} --blocks`)",
            batch, dir.string(), id_runs(ids), dir.string()));
    }
    ReplayInput input;
    input.source = "WAL " + dir.string() + ", batch " + std::to_string(batch);
    input.batch_id = batch;
    input.batch_time_ms = plan->second.batch_time_ms;
    input.state = w.done_batches.count(batch) ? "done"
                                              : "planned, not done (replayed at the "
                                                "host's next start)";
    for (uint64_t id : plan->second.block_ids) {
        auto it = w.blocks.find(id);
        if (it == w.blocks.end() || !it->second)
            throw ReplayError(fmt::format(
                "block {} of batch {} is no longer in the WAL '{}' (its segment was deleted): "
                "the batch cannot be replayed whole; replay its other blocks with --block N",
                id, batch, dir.string()));
        input.blocks.push_back(std::move(it->second));
    }
    fill_from_blocks(input);
    return input;
}

}  // namespace sluice::replay
