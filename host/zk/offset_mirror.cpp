#include "zk/offset_mirror.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "zk/legacy_layout.hpp"

namespace sluice::zk {

namespace {

using std::chrono::milliseconds;

int64_t unix_ms() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string default_consumer_id(const std::string &group) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "sluice");
    char pid[16];
    std::snprintf(pid, sizeof pid, "%x", static_cast<unsigned>(::getpid()));
    return group + "_" + host + "-" + std::to_string(unix_ms()) + "-" + pid;
}

}  // namespace

OffsetMirror::OffsetMirror(MirrorSettings settings,
                           const std::map<TopicPartition, int64_t> &start_offsets)
    : settings_(std::move(settings)), initial_(start_offsets) {
    if (settings_.group.empty())
        throw std::invalid_argument("the ZooKeeper offset mirror needs a consumer group");
    if (settings_.consumer_id.empty()) settings_.consumer_id = default_consumer_id(settings_.group);
    // The mirror never waits for a session: it connects in the background.
    settings_.zookeeper.connect_timeout = milliseconds(0);
    ZkAddress::parse(settings_.zookeeper.connect);  // a bad address fails here, not later
    const auto now = Clock::now();
    for (const auto &[tp, offset] : start_offsets) {
        topics_.insert(tp.topic);
        owned_.insert(tp);
        Entry &e = entries_[tp];
        e.offset = offset;
        e.pending_since = now;
    }
    thread_ = std::thread([this] { run(); });
}

OffsetMirror::~OffsetMirror() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void OffsetMirror::publish(const std::vector<OffsetRange> &committed) {
    std::map<TopicPartition, int64_t> next;
    for (const auto &r : committed) next[r.topic_partition()] = r.until_offset;
    publish(next);
}

void OffsetMirror::publish(const std::map<TopicPartition, int64_t> &next_offsets) {
    const auto now = Clock::now();
    {
        std::lock_guard lock(mutex_);
        for (const auto &[tp, offset] : next_offsets) {
            if (offset < 0) continue;
            Entry &e = entries_[tp];
            if (!e.pending() && offset != e.written) e.pending_since = now;
            e.offset = offset;
        }
    }
    wake_.notify_all();
}

void OffsetMirror::set_owned(const std::vector<TopicPartition> &owned) {
    {
        std::lock_guard lock(mutex_);
        owned_ = std::set<TopicPartition>(owned.begin(), owned.end());
        owned_changed_ = true;
    }
    wake_.notify_all();
}

MirrorStatus OffsetMirror::status() const {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    MirrorStatus s;
    s.connected = connected_;
    s.writes = writes_;
    s.sessions = sessions_;
    for (const auto &[tp, e] : entries_) {
        if (!e.pending()) continue;
        ++s.pending_partitions;
        s.lag = std::max(s.lag, std::chrono::duration_cast<milliseconds>(now - e.pending_since));
    }
    return s;
}

bool OffsetMirror::wait_caught_up(milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return wake_.wait_for(lock, timeout, [&] {
        return std::none_of(entries_.begin(), entries_.end(),
                            [](const auto &kv) { return kv.second.pending(); });
    });
}

std::string OffsetMirror::ids_json() const {
    nlohmann::json subscription = nlohmann::json::object();
    for (const auto &topic : topics_) {
        const auto found = settings_.topic_threads.find(topic);
        subscription[topic] =
            found == settings_.topic_threads.end() ? settings_.threads_per_topic : found->second;
    }
    // Kafka's legacy consumer writes the timestamp as a string.
    return nlohmann::json{{"version", 1},
                          {"subscription", subscription},
                          {"pattern", "static"},
                          {"timestamp", std::to_string(unix_ms())}}
        .dump();
}

bool OffsetMirror::open_session() {
    try {
        client_ = std::make_unique<ZkClient>(settings_.zookeeper);
    } catch (const std::exception &e) {
        if (Clock::now() - last_failure_log_ > settings_.log_interval) {
            spdlog::warn("ZooKeeper offset mirror: {}; retrying", e.what());
            last_failure_log_ = Clock::now();
        }
        return false;
    }
    nodes_ready_ = false;
    id_registered_ = false;
    registered_owners_.clear();
    // A new session may face a ZooKeeper that lost its data: write everything again.
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (auto &[tp, e] : entries_) {
        if (!e.pending() && e.offset >= 0) e.pending_since = now;
        e.written = -1;
    }
    return true;
}

bool OffsetMirror::set_up_nodes() {
    const std::string &group = settings_.group;
    try {
        client_->ensure_path(LegacyPaths::ids(group));
        for (const auto &topic : topics_) {
            client_->ensure_path(LegacyPaths::owners(group, topic));
            client_->ensure_path(LegacyPaths::offsets(group, topic));
        }
    } catch (const ZkError &e) {
        spdlog::warn("ZooKeeper offset mirror: {}; retrying", e.what());
        return false;
    }
    // Every partition gets its node now, with the best value known, so that
    // tools see all partitions (Burrow counts them) from the first batch on.
    std::map<TopicPartition, int64_t> values;
    {
        std::lock_guard lock(mutex_);
        for (const auto &[tp, e] : entries_) values[tp] = e.offset;
    }
    for (const auto &[tp, offset] : values) {
        const std::string text = offset >= 0 ? std::to_string(offset) : std::string();
        const ZkResult r = client_->create(LegacyPaths::offset(group, tp), text, false);
        if (r == ZkResult::connection_loss) return false;
        if (r == ZkResult::ok && offset >= 0) {
            std::lock_guard lock(mutex_);
            entries_[tp].written = offset;
            ++writes_;
        } else if (r != ZkResult::ok && r != ZkResult::node_exists) {
            spdlog::error("ZooKeeper offset mirror: cannot create {}{}; {} is not mirrored",
                          client_->chroot(), LegacyPaths::offset(group, tp), tp.to_string());
        }
    }
    nodes_ready_ = true;
    return true;
}

bool OffsetMirror::register_ephemerals() {
    const std::string &group = settings_.group;
    const std::string &id = settings_.consumer_id;
    if (!id_registered_) {
        const ZkResult r = client_->create(LegacyPaths::ids(group) + "/" + id, ids_json(), true);
        if (r == ZkResult::connection_loss) return false;
        if (r != ZkResult::ok && r != ZkResult::node_exists)
            spdlog::error("ZooKeeper offset mirror: cannot register consumer {}", id);
        id_registered_ = true;
    }
    std::set<TopicPartition> wanted;
    {
        std::lock_guard lock(mutex_);
        wanted = owned_;
        owned_changed_ = false;
    }
    const std::string owner_text = id + "-0";
    for (auto it = registered_owners_.begin(); it != registered_owners_.end();) {
        if (wanted.count(*it)) {
            ++it;
            continue;
        }
        const ZkResult r = client_->remove(LegacyPaths::owner(group, *it));
        if (r == ZkResult::connection_loss) return false;
        it = registered_owners_.erase(it);
    }
    for (const auto &tp : wanted) {
        if (registered_owners_.count(tp)) continue;
        const std::string path = LegacyPaths::owner(group, tp);
        ZkResult r = client_->create(path, owner_text, true);
        if (r == ZkResult::no_node) {  // a topic that appeared after the start
            try {
                client_->ensure_path(LegacyPaths::owners(group, tp.topic));
            } catch (const ZkError &) {
                return false;
            }
            r = client_->create(path, owner_text, true);
        }
        if (r == ZkResult::connection_loss) return false;
        if (r == ZkResult::ok) {
            registered_owners_.insert(tp);
            continue;
        }
        if (r == ZkResult::node_exists) {
            // Ours from this session, or a previous owner's (e.g. our own run
            // before a kill -9) that goes when its session expires: try again.
            int64_t session = 0;
            try {
                const auto data = client_->get(path, &session);
                if (data && session == client_->session_id()) registered_owners_.insert(tp);
            } catch (const ZkError &) {
                return false;
            }
            continue;
        }
        spdlog::error("ZooKeeper offset mirror: cannot register as owner of {}", tp.to_string());
        registered_owners_.insert(tp);  // do not retry what ZooKeeper refuses
    }
    return true;
}

bool OffsetMirror::write_pending() {
    std::vector<std::pair<TopicPartition, int64_t>> todo;
    {
        std::lock_guard lock(mutex_);
        for (const auto &[tp, e] : entries_)
            if (e.pending()) todo.emplace_back(tp, e.offset);
    }
    for (const auto &[tp, offset] : todo) {
        const std::string path = LegacyPaths::offset(settings_.group, tp);
        const std::string text = std::to_string(offset);
        ZkResult r = client_->set(path, text);
        if (r == ZkResult::no_node) {
            try {
                client_->ensure_path(LegacyPaths::offsets(settings_.group, tp.topic));
            } catch (const ZkError &) {
                return false;
            }
            r = client_->create(path, text, false);
        }
        if (r == ZkResult::connection_loss) return false;
        if (r != ZkResult::ok)
            spdlog::error(
                "ZooKeeper offset mirror: cannot write {}{} ({}); giving up this value of {}",
                client_->chroot(), path,
                r == ZkResult::no_auth ? "not allowed: check --zookeeper-auth" : "refused",
                tp.to_string());
        {
            std::lock_guard lock(mutex_);
            Entry &e = entries_[tp];
            e.written = offset;
            if (e.pending()) e.pending_since = Clock::now();  // a newer value came meanwhile
            if (r == ZkResult::ok) ++writes_;
        }
    }
    wake_.notify_all();  // wait_caught_up()
    return true;
}

void OffsetMirror::log_status(bool always) {
    const auto now = Clock::now();
    if (!always && now - last_log_ < settings_.log_interval) return;
    last_log_ = now;
    const MirrorStatus s = status();
    if (s.connected)
        spdlog::info("ZooKeeper offset mirror: group '{}', {} partitions pending, lag {} ms",
                     settings_.group, s.pending_partitions, s.lag.count());
    else
        spdlog::warn(
            "ZooKeeper offset mirror: not connected to {}; lag {} ms ({} partitions pending, "
            "batches are not delayed)",
            settings_.zookeeper.connect, s.lag.count(), s.pending_partitions);
}

void OffsetMirror::run() {
    std::optional<Clock::time_point> stop_deadline;
    bool was_connected = false;
    last_log_ = Clock::now();
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            if (stop_) {
                if (!stop_deadline) stop_deadline = Clock::now() + flush_timeout;
                const bool pending =
                    std::any_of(entries_.begin(), entries_.end(),
                                [](const auto &kv) { return kv.second.pending(); });
                if (!pending || Clock::now() >= *stop_deadline) break;
            }
        }
        bool progressed = false;
        // Cut off longer than the session timeout, the session is over on the
        // server's side too; the client would only learn it from a server that
        // still knows it (one that lost its data refuses the reconnect forever).
        const bool given_up = client_ && !client_->connected() &&
                              Clock::now() - last_connected_ > settings_.zookeeper.session_timeout;
        if (!client_ || client_->expired() || given_up) {
            if (client_)
                spdlog::warn(
                    "ZooKeeper session of the offset mirror {}; opening a new one and registering "
                    "again",
                    given_up ? "is over (no connection for longer than its timeout)" : "expired");
            client_.reset();
            if (open_session()) last_connected_ = Clock::now();
        } else if (client_->connected()) {
            last_connected_ = Clock::now();
            if (!was_connected) {
                spdlog::info("ZooKeeper offset mirror connected to {} (session 0x{:x})",
                             settings_.zookeeper.connect, client_->session_id());
                std::lock_guard lock(mutex_);
                connected_ = true;
                if (!nodes_ready_) ++sessions_;
            }
            was_connected = true;
            progressed =
                (nodes_ready_ || set_up_nodes()) && register_ephemerals() && write_pending();
        }
        if (was_connected && (!client_ || !client_->connected())) {
            spdlog::warn("ZooKeeper offset mirror lost its connection to {}; batches continue",
                         settings_.zookeeper.connect);
            was_connected = false;
            std::lock_guard lock(mutex_);
            connected_ = false;
        }
        log_status(false);

        std::unique_lock lock(mutex_);
        if (progressed)
            // Woken by new offsets or a rebalance; a periodic look also retries
            // owner nodes that were still held by an earlier session.
            wake_.wait_for(lock, milliseconds(1000), [&] {
                return stop_ || owned_changed_ ||
                       std::any_of(entries_.begin(), entries_.end(),
                                   [](const auto &kv) { return kv.second.pending(); });
            });
        else
            wake_.wait_for(lock, settings_.retry_interval, [&] { return stop_; });
    }
    log_status(true);
    client_.reset();  // ends the session: our ephemeral nodes go now, not at expiry
}

}  // namespace sluice::zk
