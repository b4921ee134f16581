#include "zk/zk_client.hpp"

#include <spdlog/spdlog.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

namespace sluice::zk {

namespace {

// The client's log lines carry no handle, so they go to one place: debug,
// because every reconnect attempt is logged at ERROR by the client and the
// mirror reports its own state.
void route_client_log(const char *message) {
    spdlog::debug("zookeeper client: {}", message);
}

char kSchemeAuth[] = "auth";
char kIdEmpty[] = "";
char kSchemeWorld[] = "world";
char kIdAnyone[] = "anyone";
// "auth" stands for every identity the creating session authenticated as.
ACL kAuthAcl[] = {{ZOO_PERM_ALL, {kSchemeAuth, kIdEmpty}},
                  {ZOO_PERM_READ, {kSchemeWorld, kIdAnyone}}};
ACL_vector kAuthAclVector = {2, kAuthAcl};

}  // namespace

ZkAddress ZkAddress::parse(std::string_view connect) {
    ZkAddress out;
    const auto slash = connect.find('/');
    out.hosts = std::string(connect.substr(0, slash));
    if (slash != std::string_view::npos) out.chroot = std::string(connect.substr(slash));
    if (out.hosts.empty())
        throw std::invalid_argument("ZooKeeper address '" + std::string(connect) +
                                    "' names no host: write HOST:PORT[,HOST:PORT...][/CHROOT]");
    if (out.chroot == "/") out.chroot.clear();
    if (!out.chroot.empty() &&
        (out.chroot.back() == '/' || out.chroot.find("//") != std::string::npos))
        throw std::invalid_argument("ZooKeeper chroot '" + out.chroot +
                                    "' is not a path: write /NAME[/NAME...]");
    return out;
}

/// What the C client's threads report: written by the watcher and the auth
/// completion (client threads), read by the owner's thread.
struct ZkClient::State {
    std::mutex mutex;
    std::condition_variable changed;
    std::atomic<int> zstate{0};
    std::atomic<bool> expired{false};
    int auth_rc = 1;  // 1 = no answer yet
    zhandle_t *handle = nullptr;
    bool with_auth = false;

    static void watcher(zhandle_t *, int type, int zstate, const char *, void *context) {
        if (type != ZOO_SESSION_EVENT) return;
        auto *self = static_cast<State *>(context);
        {
            std::lock_guard lock(self->mutex);
            self->zstate = zstate;
            if (zstate == ZOO_EXPIRED_SESSION_STATE || zstate == ZOO_AUTH_FAILED_STATE)
                self->expired = true;
        }
        self->changed.notify_all();
    }
    static void auth_done(int rc, const void *data) {
        auto *self = const_cast<State *>(static_cast<const State *>(data));
        {
            std::lock_guard lock(self->mutex);
            self->auth_rc = rc;
        }
        self->changed.notify_all();
    }
};

ZkClient::ZkClient(const ZkSettings &settings)
    : address_(ZkAddress::parse(settings.connect)), state_(std::make_unique<State>()) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    state_->with_auth = !settings.auth.empty();
    state_->handle = zookeeper_init2(address_.hosts.c_str(), &State::watcher,
                                     static_cast<int>(settings.session_timeout.count()), nullptr,
                                     state_.get(), 0, &route_client_log);
    if (!state_->handle)
        throw ZkError(ZSYSTEMERROR, "cannot create a ZooKeeper client for '" + settings.connect +
                                        "': " + std::strerror(errno));
    const auto colon = settings.auth.find(':');
    const std::string scheme = settings.auth.substr(0, colon);
    // "digest:user:password": the scheme, then the credentials as ZooKeeper wants them.
    const std::string credentials =
        colon == std::string::npos ? std::string() : settings.auth.substr(colon + 1);
    if (settings.connect_timeout.count() == 0) {
        // Sent as soon as the session exists (and again after each reconnect);
        // a refusal shows as expired().
        if (state_->with_auth)
            zoo_add_auth(
                state_->handle, scheme.c_str(), credentials.data(),
                static_cast<int>(credentials.size()), [](int, const void *) {}, nullptr);
        return;
    }
    std::unique_lock lock(state_->mutex);
    const bool up = state_->changed.wait_for(lock, settings.connect_timeout, [&] {
        return state_->zstate == ZOO_CONNECTED_STATE || state_->expired;
    });
    if (!up || state_->expired) {
        lock.unlock();
        zookeeper_close(state_->handle);
        throw ZkError(ZCONNECTIONLOSS,
                      "no ZooKeeper session with '" + settings.connect + "' within " +
                          std::to_string(settings.connect_timeout.count()) +
                          " ms: check that ZooKeeper runs there (e.g. echo srvr | nc HOST PORT)");
    }
    if (!state_->with_auth) return;
    lock.unlock();
    const int rc =
        zoo_add_auth(state_->handle, scheme.c_str(), credentials.data(),
                     static_cast<int>(credentials.size()), &State::auth_done, state_.get());
    lock.lock();
    const bool answered =
        rc == ZOK && state_->changed.wait_for(lock, settings.connect_timeout,
                                              [&] { return state_->auth_rc != 1; });
    const int auth_rc = rc != ZOK ? rc : answered ? state_->auth_rc : ZOPERATIONTIMEOUT;
    if (auth_rc != ZOK) {
        lock.unlock();
        zookeeper_close(state_->handle);
        throw ZkError(auth_rc, "ZooKeeper refused the " + scheme + " authentication (" +
                                   describe(auth_rc) + "): check --zookeeper-auth");
    }
}

ZkClient::~ZkClient() {
    // Closing ends the session, which removes our ephemeral nodes at once.
    zookeeper_close(state_->handle);
}

bool ZkClient::connected() const {
    return !state_->expired && state_->zstate == ZOO_CONNECTED_STATE;
}

bool ZkClient::expired() const {
    return state_->expired || is_unrecoverable(state_->handle) == ZINVALIDSTATE;
}

int64_t ZkClient::session_id() const {
    const clientid_t *id = zoo_client_id(state_->handle);
    return id ? id->client_id : 0;
}

std::string ZkClient::full(const std::string &path) const {
    return address_.chroot + path;
}

ZkResult ZkClient::classify(int rc) const {
    switch (rc) {
        case ZOK:
            return ZkResult::ok;
        case ZNONODE:
            return ZkResult::no_node;
        case ZNODEEXISTS:
            return ZkResult::node_exists;
        case ZNOTEMPTY:
            return ZkResult::not_empty;
        case ZNOAUTH:
            return ZkResult::no_auth;
        case ZCONNECTIONLOSS:
        case ZOPERATIONTIMEOUT:
        case ZSESSIONEXPIRED:
        case ZINVALIDSTATE:
        case ZCLOSING:
            return ZkResult::connection_loss;
        default:
            return ZkResult::other;
    }
}

std::string ZkClient::describe(int code) {
    return std::string(zerror(code)) + " (code " + std::to_string(code) + ")";
}

ZkResult ZkClient::create(const std::string &path, std::string_view data, bool ephemeral) {
    const std::string p = full(path);
    const int rc = zoo_create(state_->handle, p.c_str(), data.data(), static_cast<int>(data.size()),
                              state_->with_auth ? &kAuthAclVector : &ZOO_OPEN_ACL_UNSAFE,
                              ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT, nullptr, 0);
    return classify(rc);
}

void ZkClient::ensure_path(const std::string &path) {
    // The chroot is created through the real root, then the path below it.
    const std::string target = full(path);
    for (size_t slash = target.find('/', 1);; slash = target.find('/', slash + 1)) {
        const std::string prefix = target.substr(0, slash);
        if (zoo_exists(state_->handle, prefix.c_str(), 0, nullptr) == ZNONODE) {
            const int rc = zoo_create(state_->handle, prefix.c_str(), nullptr, -1,
                                      state_->with_auth ? &kAuthAclVector : &ZOO_OPEN_ACL_UNSAFE,
                                      ZOO_PERSISTENT, nullptr, 0);
            if (rc != ZOK && rc != ZNODEEXISTS)
                throw ZkError(rc, "cannot create ZooKeeper node '" + prefix + "': " + describe(rc));
        }
        if (slash == std::string::npos) break;
    }
}

ZkResult ZkClient::set(const std::string &path, std::string_view data) {
    const std::string p = full(path);
    return classify(
        zoo_set(state_->handle, p.c_str(), data.data(), static_cast<int>(data.size()), -1));
}

ZkResult ZkClient::remove(const std::string &path) {
    const std::string p = full(path);
    return classify(zoo_delete(state_->handle, p.c_str(), -1));
}

std::optional<std::string> ZkClient::get(const std::string &path, int64_t *ephemeral_owner) {
    const std::string p = full(path);
    std::string buffer(4096, '\0');
    for (;;) {
        Stat stat{};
        int length = static_cast<int>(buffer.size());
        const int rc = zoo_get(state_->handle, p.c_str(), 0, buffer.data(), &length, &stat);
        if (rc == ZNONODE) return std::nullopt;
        if (rc != ZOK) throw ZkError(rc, "cannot read ZooKeeper node '" + p + "': " + describe(rc));
        if (stat.dataLength > static_cast<int>(buffer.size())) {  // truncated: read again
            buffer.resize(static_cast<size_t>(stat.dataLength));
            continue;
        }
        if (ephemeral_owner) *ephemeral_owner = stat.ephemeralOwner;
        buffer.resize(length < 0 ? 0 : static_cast<size_t>(length));  // -1 = no data
        return buffer;
    }
}

std::vector<std::string> ZkClient::children(const std::string &path) {
    const std::string p = full(path);
    String_vector names{};
    const int rc = zoo_get_children(state_->handle, p.c_str(), 0, &names);
    if (rc == ZNONODE) return {};
    if (rc != ZOK) throw ZkError(rc, "cannot list ZooKeeper node '" + p + "': " + describe(rc));
    std::vector<std::string> out(names.data, names.data + names.count);
    deallocate_String_vector(&names);
    return out;
}

}  // namespace sluice::zk
