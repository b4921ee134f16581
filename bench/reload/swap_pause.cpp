// How long a hot-reload swap holds up the batch loop: a chain with the reload test plugin runs
// 1000-record batches back to back while the plugin file is replaced by rename 100 times
// (alternating two builds). For each swap it times the process() call that swapped the new
// generation in and ran its first batch, and compares with ordinary batches. Prints p50/p99.
// Usage: bench_reload_swap_pause [SWAPS]   (built with the tests; not a ctest)

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "../../tests/plugins/reload_test_support.hpp"
#include "plugins/plugin_chain.hpp"

using namespace sluice::plugins;
using namespace sluice::reload_test;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char **argv) {
    const int swaps = argc > 1 ? std::atoi(argv[1]) : 100;
    spdlog::set_level(spdlog::level::warn);
    TempDir plugins("sluice-bench-reload");
    const fs::path file = plugins.path() / "versioned.so";
    deploy_by_rename(build_file("v1"), file);
    PluginLoader loader({plugins.path()});
    PluginChain chain;
    ReloaderOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    chain.enable_hot_reload(loader, options);
    chain.add(std::make_unique<PluginInstance>(chain.load(loader, "versioned"),
                                               std::map<std::string, std::string>{}));
    double swap_ms = 0;  // the chain's own measure of the swap step
    chain.set_swap_listener([&](const SwapEvent &e) { swap_ms += e.pause_ms; });

    std::vector<std::string> values(1000, std::string(100, 'x'));
    const TestBatch batch(0, values);
    std::vector<double> normal, with_swap, swap_step;
    auto timed = [&] {
        const auto t0 = Clock::now();
        if (!chain.process(batch.get()).ok()) std::abort();
        return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    for (int i = 0; i < 200; ++i) normal.push_back(timed());
    for (int s = 0; s < swaps; ++s) {
        const uint64_t before = chain.generation(0);
        deploy_by_rename(build_file(s % 2 == 0 ? "v2" : "v1"), file);
        // Ordinary batches until the next one swaps (the batch loop would run meanwhile too).
        for (;;) {
            swap_ms = 0;
            const double ms = timed();
            if (chain.generation(0) != before) {
                with_swap.push_back(ms);
                swap_step.push_back(swap_ms);
                break;
            }
            normal.push_back(ms);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    std::printf("swaps: %d; 1000-record batches\n", swaps);
    std::printf("ordinary batch       p50 %.3f ms  p99 %.3f ms  (n=%zu)\n", percentile(normal, 0.5),
                percentile(normal, 0.99), normal.size());
    std::printf("batch with a swap    p50 %.3f ms  p99 %.3f ms\n", percentile(with_swap, 0.5),
                percentile(with_swap, 0.99));
    std::printf("swap step (chain)    p50 %.3f ms  p99 %.3f ms\n", percentile(swap_step, 0.5),
                percentile(swap_step, 0.99));
    std::printf("pause = batch with a swap - ordinary p50: p50 %.3f ms  p99 %.3f ms\n",
                percentile(with_swap, 0.5) - percentile(normal, 0.5),
                percentile(with_swap, 0.99) - percentile(normal, 0.5));
    return 0;
}
