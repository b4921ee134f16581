// Checkpoint format 2: entries list only the ranges that moved since a base snapshot, so an idle
// batch over thousands of partitions writes little; every plan still comes back exactly (same
// ranges, same order) after any reopen; format 1 directories (written by sluice before format
// 2) are read and upgraded; a damaged base stops the start instead of losing the position.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "checkpoint/checkpoint_store.hpp"
#include "temp_dir.hpp"

namespace sluice::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

/// Positions of `partitions` partitions over two topics, in plan order.
std::vector<OffsetRange> start_positions(int partitions) {
    std::vector<OffsetRange> out;
    for (int i = 0; i < partitions; ++i)
        out.push_back({i % 2 ? "clicks" : "orders", i / 2, 1000 + i, 1000 + i});
    return out;
}

/// The next plan: `busy` partitions (chosen by rng) get records, the others an empty range.
BatchPlan next_plan(int64_t id, std::vector<OffsetRange> &positions, size_t busy,
                    std::mt19937 &rng) {
    BatchPlan plan{id, 1'795'000'000'000 + id * 100, {}};
    std::uniform_int_distribution<size_t> pick(0, positions.size() - 1);
    std::vector<bool> moves(positions.size(), false);
    for (size_t n = 0; n < busy; ++n) moves[pick(rng)] = true;
    for (size_t i = 0; i < positions.size(); ++i) {
        auto &p = positions[i];
        const int64_t until =
            p.until_offset + (moves[i] ? 1 + static_cast<int64_t>(rng() % 50) : 0);
        plan.ranges.push_back({p.topic, p.partition, p.until_offset, until});
        p.from_offset = p.until_offset = until;
    }
    return plan;
}

uint64_t bytes_of(const fs::path &file) {
    std::error_code ec;
    const auto n = fs::file_size(file, ec);
    return ec ? 0 : n;
}

class CheckpointFormat2 : public ::testing::Test {
  protected:
    test::TempDir root_ = test::temp_dir("sluice-ckpt-v2");
    fs::path dir_ = root_.path() / "ckpt";
};

TEST_F(CheckpointFormat2, IdleBatchesOverTenThousandPartitionsWriteAFewBytes) {
    std::mt19937 rng(7);
    auto positions = start_positions(10000);
    CheckpointStore store(dir_, 100);
    uint64_t busy_max = 0, idle_max = 0, bases_bytes = 0;
    for (int64_t id = 0; id < 60; ++id) {
        // A burst on 1% of the partitions now and then, idle batches in between.
        const size_t busy = id % 10 == 0 ? 100 : 0;
        const BatchPlan plan = next_plan(id, positions, busy, rng);
        store.write_offsets(plan);
        store.write_commit(plan);
        const uint64_t written = bytes_of(dir_ / "offsets" / std::to_string(id)) +
                                 bytes_of(dir_ / "commits" / std::to_string(id));
        (busy ? busy_max : idle_max) = std::max(busy ? busy_max : idle_max, written);
        if (busy)
            bases_bytes = std::max(bases_bytes, bytes_of(dir_ / "bases" / std::to_string(id)));
    }
    std::printf(
        "checkpoint format 2, 10000 partitions: idle batch %llu bytes, 1%%-busy batch %llu bytes "
        "(both logs) + a base of %llu bytes\n",
        static_cast<unsigned long long>(idle_max), static_cast<unsigned long long>(busy_max),
        static_cast<unsigned long long>(bases_bytes));
    // The target: an empty batch writes at most 4 KB (a format 1 entry here: ~1.4 MB).
    EXPECT_LE(idle_max, 4096u);
    EXPECT_LE(busy_max, 16384u);
    EXPECT_LE(bases_bytes, 400000u);
    // Bases are rewritten only when enough partitions moved, and old ones are pruned.
    size_t bases = 0;
    for (const auto &e : fs::directory_iterator(dir_ / "bases")) bases += !e.path().has_extension();
    EXPECT_GE(bases, 1u);
    EXPECT_LE(bases, 8u);
}

uint64_t bytes_under(const fs::path &dir) {
    uint64_t total = 0;
    for (const auto &e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) total += e.file_size();
    return total;
}

// 1% of the partitions busy in every batch (different ones each time): the entries drift from
// their base, and a base per entry (139 KB here, what the rule "over 64 ranges, a new base" cost
// in each of both logs) is not what the checkpoint writes; every plan still comes back exactly.
TEST_F(CheckpointFormat2, OnePercentBusyInEveryBatchDoesNotCostABasePerEntry) {
    std::mt19937 rng(5);
    auto positions = start_positions(10000);
    const int64_t batches = 60;
    std::vector<BatchPlan> plans;
    {
        CheckpointStore store(dir_, 1000);  // keeps everything: all bytes written stay countable
        for (int64_t id = 0; id < batches; ++id) {
            plans.push_back(next_plan(id, positions, 100, rng));
            store.write_offsets(plans.back());
            store.write_commit(plans.back());
        }
    }
    size_t bases = 0;
    for (const auto &e : fs::directory_iterator(dir_ / "bases")) bases += !e.path().has_extension();
    const uint64_t per_batch = bytes_under(dir_) / batches;
    std::printf(
        "checkpoint format 2, 10000 partitions, 1%% busy in every batch: %llu bytes per "
        "batch, %zu bases in %lld batches\n",
        static_cast<unsigned long long>(per_batch), bases, static_cast<long long>(batches));
    EXPECT_LE(bases, static_cast<size_t>(batches / 4));
    EXPECT_LE(per_batch, 60000u);
    CheckpointStore reopened(dir_, 1000);
    const auto state = reopened.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(state.last_committed->batch_id, batches - 1);
    EXPECT_EQ(state.last_committed->ranges, plans.back().ranges);
}

TEST_F(CheckpointFormat2, EveryPlanComesBackExactlyAfterAnyReopen) {
    std::mt19937 rng(11);
    auto positions = start_positions(300);
    BatchPlan last_committed, pending;
    bool have_pending = false;
    for (int64_t id = 0; id < 150; ++id) {
        if (id == 70) positions.push_back({"orders", 500, 0, 0});  // a partition appears
        // Mostly quiet, sometimes busy everywhere (a full entry), sometimes in between.
        const size_t busy = id % 37 == 0 ? 400 : id % 5 == 0 ? 40 : rng() % 4;
        const BatchPlan plan = next_plan(id, positions, busy, rng);
        {
            CheckpointStore store(dir_, 20);
            if (id > 0) {
                const RecoveredState state = store.recover();
                ASSERT_TRUE(state.warnings.empty()) << state.warnings.front();
                ASSERT_TRUE(state.last_committed);
                ASSERT_EQ(*state.last_committed, last_committed) << "batch " << id;
                ASSERT_EQ(state.pending.has_value(), have_pending);
                if (have_pending) {
                    ASSERT_EQ(*state.pending, pending);
                    store.write_commit(pending);  // the replay commits it
                    last_committed = pending;
                }
            }
            store.write_offsets(plan);
            // Every seventh batch is left planned but not committed (a crash in between).
            have_pending = id % 7 == 3;
            if (have_pending) {
                pending = plan;
            } else {
                store.write_commit(plan);
                last_committed = plan;
            }
        }
    }
    CheckpointStore store(dir_, 20);
    const RecoveredState state = store.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(*state.last_committed, last_committed);
}

TEST_F(CheckpointFormat2, ReadsAFormat1CheckpointAndUpgradesIt) {
    // Written by sluice before format 2 (tests/checkpoint/fixtures/v1: batches 0..4 committed,
    // retention 3, batch 5 planned).
    fs::copy(fs::path(SLUICE_SOURCE_DIR) / "tests/checkpoint/fixtures/v1", dir_,
             fs::copy_options::recursive);
    auto plan = [](int64_t id) {
        BatchPlan p{id, 1'795'000'000'000 + id * 1000, {}};
        for (int32_t part = 0; part < 3; ++part)
            p.ranges.push_back(
                {"orders", part, id * 10 + part, id * 10 + part + (part == 1 ? 0 : 10)});
        for (int32_t part = 0; part < 2; ++part)
            p.ranges.push_back({"audit log", part, id, id + 1});
        return p;
    };
    {
        CheckpointStore store(dir_, 3);
        const RecoveredState state = store.recover();
        ASSERT_TRUE(state.last_committed);
        EXPECT_EQ(*state.last_committed, plan(4));
        ASSERT_TRUE(state.pending);
        EXPECT_EQ(*state.pending, plan(5));
        ASSERT_EQ(state.warnings.size(), 1u);
        EXPECT_THAT(state.warnings[0], HasSubstr("upgrading it to format 2"));
        store.write_commit(plan(5));
        store.write_offsets(plan(6));
        store.write_commit(plan(6));
    }
    std::ifstream meta(dir_ / "metadata");
    EXPECT_THAT(std::string(std::istreambuf_iterator<char>(meta), {}),
                HasSubstr("\"format_version\":2"));
    CheckpointStore store(dir_, 3);
    const RecoveredState state = store.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(*state.last_committed, plan(6));
    EXPECT_FALSE(state.pending);
    EXPECT_TRUE(state.warnings.empty());
}

TEST_F(CheckpointFormat2, ADamagedBaseStopsTheStartAndChangesNothing) {
    std::mt19937 rng(3);
    auto positions = start_positions(200);
    {
        CheckpointStore store(dir_);
        for (int64_t id = 0; id < 5; ++id) {
            const BatchPlan plan = next_plan(id, positions, 2, rng);
            store.write_offsets(plan);
            store.write_commit(plan);
        }
    }
    fs::path base;
    for (const auto &e : fs::directory_iterator(dir_ / "bases")) base = e.path();
    ASSERT_FALSE(base.empty());
    {
        std::fstream f(base, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(60);
        f.put('#');
    }
    try {
        CheckpointStore store(dir_);
        store.recover();
        FAIL() << "opened a checkpoint whose base is damaged";
    } catch (const CheckpointError &e) {
        EXPECT_THAT(e.what(), HasSubstr("refers to base"));
        EXPECT_THAT(e.what(), HasSubstr(base.string()));
        EXPECT_THAT(e.what(), HasSubstr("nothing was changed"));
    }
}

}  // namespace
}  // namespace sluice::checkpoint
