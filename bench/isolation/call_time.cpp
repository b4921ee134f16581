// What isolation = process adds to one plugin call: the same batches through the same plugin
// (noop by default) in process and in a worker (host/isolation), calls alternating, each call
// timed. Prints p50/p99 per call for both and the difference. bench/run.sh --isolation runs it
// beside the end-to-end comparison; see docs/benchmarks.md.
//
// Usage: bench_isolation_call --plugin-dir DIR [--plugin NAME] [--records N] [--value-size B]
//                             [--batches K]
// The worker is this binary again (`bench_isolation_call plugin-worker`, as for `sluice`).

#include <sluice/sluice.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "isolation/worker_backend.hpp"
#include "isolation/worker_main.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[i];
}

}  // namespace

int main(int argc, char **argv) {
    if (argc >= 2 && std::strcmp(argv[1], "plugin-worker") == 0)
        return sluice::isolation::run_plugin_worker();
    std::string dir, plugin = "noop";
    size_t records = 50000, value_size = 100, batches = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--plugin-dir")
            dir = argv[i + 1];
        else if (a == "--plugin")
            plugin = argv[i + 1];
        else if (a == "--records")
            records = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--value-size")
            value_size = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--batches")
            batches = std::strtoull(argv[i + 1], nullptr, 10);
        else {
            std::fprintf(stderr, "bench_isolation_call: unknown argument '%s'\n", a.c_str());
            return 2;
        }
    }
    if (dir.empty() || records == 0 || batches == 0) {
        std::fprintf(stderr,
                     "usage: bench_isolation_call --plugin-dir DIR [--plugin NAME] "
                     "[--records N] [--value-size B] [--batches K]\n");
        return 2;
    }
    spdlog::set_level(spdlog::level::warn);
    try {
        sluice::plugins::PluginLoader loader({dir});
        auto lib = loader.load(plugin);
        sluice::plugins::PluginInstance local(lib, {});
        sluice::isolation::IsolationOptions options;
        options.process = true;
        sluice::plugins::PluginInstance isolated(
            lib, {},
            std::make_unique<sluice::isolation::WorkerBackend>(
                *lib, std::map<std::string, std::string>{}, options));

        // One batch like bench/run.sh's data: 16 B keys, value_size B values, 8 partitions.
        std::vector<std::string> keys(records), values(records);
        std::vector<sluice_record_t> recs(records);
        for (size_t i = 0; i < records; ++i) {
            keys[i] = std::to_string(1000000000000000 + i);
            values[i].assign(value_size, static_cast<char>('a' + i % 26));
            recs[i] = {sizeof(sluice_record_t),
                       "bench",
                       static_cast<int32_t>(i % 8),
                       static_cast<int64_t>(i / 8),
                       1700000000000,
                       SLUICE_TIMESTAMP_CREATE_TIME,
                       keys[i].data(),
                       keys[i].size(),
                       values[i].data(),
                       values[i].size(),
                       nullptr,
                       0,
                       0};
        }
        sluice_batch_t batch{sizeof(sluice_batch_t), 0, 0, 0, nullptr, 0, 0, recs.data(), records,
                             sizeof(sluice_record_t)};
        std::vector<double> in_us, out_us;
        for (size_t b = 0; b < batches + 5; ++b) {
            batch.batch_id = static_cast<int64_t>(b);
            for (auto *inst : {&local, &isolated}) {
                const auto start = Clock::now();
                const auto r = inst->process_batch(batch);
                const double us =
                    std::chrono::duration<double, std::micro>(Clock::now() - start).count();
                if (!r.ok()) {
                    std::fprintf(stderr, "bench_isolation_call: %s\n", r.message.c_str());
                    return 1;
                }
                if (b >= 5) (inst == &local ? in_us : out_us).push_back(us);  // 5 warm-up calls
            }
        }
        const double i50 = percentile(in_us, 0.5), i99 = percentile(in_us, 0.99);
        const double o50 = percentile(out_us, 0.5), o99 = percentile(out_us, 0.99);
        std::printf("per call, %zu batches of %zu records x %zu B, plugin %s:\n", batches, records,
                    value_size, plugin.c_str());
        std::printf("  in-process  p50 %9.1f us  p99 %9.1f us\n", i50, i99);
        std::printf("  isolated    p50 %9.1f us  p99 %9.1f us\n", o50, o99);
        std::printf("  added       p50 %9.1f us  p99 %9.1f us  (%.1f ns per record at p50)\n",
                    o50 - i50, o99 - i99, (o50 - i50) * 1000.0 / static_cast<double>(records));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_isolation_call: %s\n", e.what());
        return 1;
    }
    return 0;
}
