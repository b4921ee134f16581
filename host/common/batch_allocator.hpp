#pragma once
// Process-wide glibc malloc tuning for batch workloads, applied by `sluice run` (host/app/main.cpp)
// before any thread starts. Header-only so that benchmarks can apply the same settings.

#include <malloc.h>

#include <cstdlib>
#include <mutex>

namespace sluice {

/// Makes glibc malloc keep freed memory instead of returning it to the kernel (once; skipped
/// when the user set any MALLOC_* tuning variable). A batch holds its librdkafka messages and
/// fetch buffers until the plugins finish; by default glibc then gives that memory back and
/// every batch faults it in again (~20 us a page on a VM), which halves throughput. Sets
/// M_MMAP_THRESHOLD 32 MiB and M_TRIM_THRESHOLD 1 GiB. Any thread; call it before the others.
inline void tune_allocator_for_batches() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_THRESHOLD_") ||
            std::getenv("MALLOC_TOP_PAD_"))
            return;  // the user tuned glibc malloc: keep their choice
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    });
}

}  // namespace sluice
