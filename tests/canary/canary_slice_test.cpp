// A sink's canary on a slice of the partitions in a real chain (hot reload on, the real loader
// and reloader thread, builds of plugins/ledger.c deployed as ledger.canary.so): a RETRY of
// either generation's part gives only that part again on the retry, so each record is written
// once; a rebalance revokes a partition from the generation that holds it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "reload_test_support.hpp"

namespace sluice::plugins {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using reload_test::deploy_by_rename;
using reload_test::LogCapture;
using reload_test::read_text;
using reload_test::wait_until;
using ::testing::HasSubstr;

fs::path ledger_build(const std::string &build) {
    return fs::path(CANARY_TEST_PLUGIN_DIR) / ("canary_ledger_" + build + ".so");
}

/// A batch of topic "t": one record per (partition, value), offsets counted on per partition.
class Batch {
  public:
    Batch(int64_t id, const std::vector<std::pair<int32_t, std::string>> &records,
          std::map<int32_t, int64_t> &next) {
        values_.reserve(records.size());
        std::map<int32_t, std::pair<int64_t, int64_t>> spans;
        for (const auto &[partition, value] : records) {
            values_.push_back(value);
            sluice_record_t r{};
            r.struct_size = sizeof r;
            r.topic = "t";
            r.partition = partition;
            r.offset = next[partition]++;
            r.value = values_.back().data();
            r.value_len = values_.back().size();
            records_.push_back(r);
            auto [it, fresh] = spans.try_emplace(partition, r.offset, r.offset + 1);
            if (!fresh) it->second.second = r.offset + 1;
        }
        for (const auto &[partition, span] : spans)
            ranges_.push_back(
                {sizeof(sluice_offset_range_t), "t", partition, span.first, span.second});
        batch_.struct_size = sizeof batch_;
        batch_.batch_id = id;
        batch_.ranges = ranges_.data();
        batch_.range_count = ranges_.size();
        batch_.range_stride = sizeof(sluice_offset_range_t);
        batch_.records = records_.data();
        batch_.record_count = records_.size();
        batch_.record_stride = sizeof(sluice_record_t);
    }
    const sluice_batch_t &get() const { return batch_; }

  private:
    std::vector<std::string> values_;
    std::vector<sluice_record_t> records_;
    std::vector<sluice_offset_range_t> ranges_;
    sluice_batch_t batch_{};
};

class SliceCanary : public ::testing::Test {
  protected:
    void start(const std::string &serving) {
        deploy_by_rename(ledger_build(serving), dir_.path() / "ledger.so");
        ReloaderOptions options;
        options.poll_interval = 20ms;
        options.canary_batches = 3;
        options.canary_partitions = 2;
        chain_.enable_hot_reload(loader_, options);
        chain_.add(std::make_unique<PluginInstance>(
            chain_.load(loader_, "ledger"), std::map<std::string, std::string>{{"path", ledger_}}));
        ASSERT_TRUE(chain_.partitions_assigned({{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}}).ok());
        ASSERT_TRUE(run(every_partition()).ok());  // starts the reloader's thread
    }
    std::vector<std::pair<int32_t, std::string>> every_partition() {
        return {{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}};
    }
    ChainResult run(const std::vector<std::pair<int32_t, std::string>> &records) {
        last_.emplace(next_id_++, records, next_offset_);  // kept for retry_failed()
        written_ += records.size();
        return chain_.process(last_->get());
    }
    CanaryStatus status() {
        const auto all = chain_.canary()->status();
        return all.empty() ? CanaryStatus{} : all.front();
    }
    /// Deploys `build` as ledger.canary.so and runs batches until it serves its slice.
    void deploy_canary(const std::string &build) {
        deploy_by_rename(ledger_build(build), dir_.path() / "ledger.canary.so");
        ASSERT_TRUE(wait_until([&] {
            EXPECT_TRUE(run(every_partition()).ok());
            return status().report.find("it serves t-0, t-1 (2 of 4 partitions)") !=
                   std::string::npos;
        })) << logs_.all();
    }
    /// The ledger's lines that start with `what` and end with `tail`, by build.
    std::map<std::string, int> lines(const std::string &what, const std::string &tail) {
        std::map<std::string, int> out;
        std::istringstream in(read_text(ledger_));
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream words(line);
            std::string w, id, version, partition, offset;
            words >> w >> id >> version >> partition >> offset;
            const std::string end = offset.empty() ? partition : partition + " " + offset;
            if (w == what && end == tail) ++out[version];
        }
        return out;
    }
    /// Every record written once: (partition, offset) -> times.
    void expect_each_record_once() {
        std::map<std::string, int> seen;
        std::istringstream in(read_text(ledger_));
        std::string line;
        size_t records = 0;
        while (std::getline(in, line)) {
            if (line.rfind("rec ", 0) != 0) continue;
            ++records;
            ++seen[line.substr(line.find(" t-"))];
        }
        EXPECT_EQ(records, written_);
        for (const auto &[record, times] : seen) EXPECT_EQ(times, 1) << record;
    }

    LogCapture logs_;  // before the chain (its thread logs), destroyed after it
    reload_test::TempDir dir_{"sluice-canary-slice"};
    std::string ledger_ = (dir_.path() / "ledger.txt").string();
    PluginLoader loader_{{dir_.path()}};
    PluginChain chain_;
    int64_t next_id_ = 0;
    std::map<int32_t, int64_t> next_offset_;
    size_t written_ = 0;
    std::optional<Batch> last_;
};

TEST_F(SliceCanary, ARetryOfTheCanarysPartGivesOnlyThatPartAgain) {
    start("v1");
    deploy_canary("retry");
    const std::string at = " " + std::to_string(next_offset_[0]);  // every partition alike
    const ChainResult r = run({{0, "again"}, {1, "b"}, {2, "c"}, {3, "d"}});
    ASSERT_EQ(r.status, SLUICE_RETRY) << r.message << logs_.all();
    EXPECT_EQ(lines("rec", "t-2" + at), (std::map<std::string, int>{{"1", 1}}))
        << "the serving generation stored its part";
    EXPECT_TRUE(lines("rec", "t-0" + at).empty());
    ASSERT_TRUE(chain_.retry_failed().ok()) << logs_.all();
    EXPECT_EQ(lines("rec", "t-0" + at), (std::map<std::string, int>{{"4", 1}}));
    EXPECT_EQ(lines("rec", "t-2" + at), (std::map<std::string, int>{{"1", 1}}))
        << "the retry gave the serving generation its stored part again";
    expect_each_record_once();
    EXPECT_EQ(status().state, CanaryStatus::State::shadowing) << "a RETRY does not reject it";
}

TEST_F(SliceCanary, ARetryOfTheServingPartGivesOnlyThatPartAgain) {
    start("retry");
    deploy_canary("v1");
    const std::string at = " " + std::to_string(next_offset_[0]);  // every partition alike
    const ChainResult r = run({{0, "a"}, {1, "b"}, {2, "again"}, {3, "d"}});
    ASSERT_EQ(r.status, SLUICE_RETRY) << r.message << logs_.all();
    EXPECT_EQ(lines("rec", "t-0" + at), (std::map<std::string, int>{{"1", 1}}))
        << "the canary (a v1 build) stored its part";
    ASSERT_TRUE(chain_.retry_failed().ok()) << logs_.all();
    EXPECT_EQ(lines("rec", "t-2" + at), (std::map<std::string, int>{{"4", 1}}));
    EXPECT_EQ(lines("rec", "t-0" + at), (std::map<std::string, int>{{"1", 1}}))
        << "the retry gave the canary its stored part again";
    expect_each_record_once();
}

TEST_F(SliceCanary, ARebalanceRevokesAPartitionFromTheGenerationHoldingIt) {
    start("v1");
    deploy_canary("v2");
    ASSERT_TRUE(chain_.partitions_revoked({{"t", 0}}).ok());
    // The serving generation gave t-0 up at the hand-over; now the canary does.
    EXPECT_EQ(lines("close", "t-0"), (std::map<std::string, int>{{"1", 1}, {"2", 1}}));
    ASSERT_TRUE(run({{1, "b"}, {2, "c"}, {3, "d"}}).ok());
    EXPECT_EQ(status().state, CanaryStatus::State::shadowing);
    ASSERT_TRUE(chain_.partitions_revoked({{"t", 1}, {"t", 3}}).ok());
    EXPECT_EQ(lines("close", "t-1"), (std::map<std::string, int>{{"1", 1}, {"2", 1}}));
    EXPECT_EQ(lines("close", "t-3"), (std::map<std::string, int>{{"1", 1}}));
    // Nothing left to try it on: withdrawn, and the serving generation goes on alone.
    EXPECT_EQ(status().state, CanaryStatus::State::rejected);
    EXPECT_THAT(status().report, HasSubstr("withdrawn: its partitions were revoked (t-1)"));
    ASSERT_TRUE(run({{2, "c"}}).ok());
    EXPECT_EQ(lines("rec", "t-2 " + std::to_string(next_offset_[2] - 1)),
              (std::map<std::string, int>{{"1", 1}}));
    expect_each_record_once();
}

}  // namespace
}  // namespace sluice::plugins
