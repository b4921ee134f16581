#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <string_view>

namespace sluice::kafka {

/// The end of a group consumer's handle, around a librdkafka 2.0.2 bug (#4312, fixed in 2.3.0):
/// rd_kafka_destroy asserts in rd_kafka_sticky_assignor_state_destroy when the member has had its
/// JoinGroup answer (the assignor is chosen) but not yet its first SyncGroup assignment (the
/// assignor's state is still null). A host stopped in its first seconds, or while its group
/// rebalances, can be in that window.
///
/// `await_first_assignment` polls `rk` (with no wait, so no record is fetched for partitions it
/// has just been given; any message polled is dropped unread and uncommitted) until `assigned()`
/// says the rebalance callback has run once, at most `limit`. Call it on the thread that polls.
void await_first_assignment(rd_kafka_t *rk, const std::function<bool()> &assigned,
                            std::chrono::milliseconds limit = std::chrono::seconds(10));

/// Whether destroying `rk` now would hit that assertion: it has had its JoinGroup answer and no
/// assignment (`assigned`: its rebalance callback has run once). Ask before
/// rd_kafka_consumer_close: a closed consumer no longer tells its rebalance protocol.
bool destroy_would_abort(rd_kafka_t *rk, bool assigned);

/// Destroys `rk` with `flags` (rd_kafka_destroy_flags), unless `would_abort`: then the handle is
/// left, with one warning, to the process exit (kept reachable so that leak checkers do not
/// report it, its own log silenced). The group sees it leave at its session timeout, or at once
/// if rd_kafka_consumer_close ran before. The handle's opaque may point to an object destroyed
/// after this: safe, because the callbacks that read it (rebalance, error, stats) run only inside
/// our own polls, which have ended, and the log callback, the one librdkafka's threads call, is
/// silenced here first.
void destroy_consumer(rd_kafka_t *rk, bool would_abort, int flags, std::string_view who);

}  // namespace sluice::kafka
