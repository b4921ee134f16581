#pragma once
// ZkClient: a synchronous, RAII ZooKeeper session (C client, multi-threaded
// library), with the chroot applied by this class so that it can create the
// chroot itself (ZooKeeper does not).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::zk {

/// A ZooKeeper call failed. code() is the C client's ZOO_ERRORS value (ZNONODE...).
class ZkError : public std::runtime_error {
  public:
    ZkError(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const { return code_; }

  private:
    int code_;
};

/// "host:port[,host:port...][/chroot]" split in two.
struct ZkAddress {
    std::string hosts;   // what zookeeper_init gets
    std::string chroot;  // "" or "/a/b", no trailing '/'

    /// Throws std::invalid_argument for an empty host list or a malformed chroot.
    static ZkAddress parse(std::string_view connect);
};

/// Where and how to connect.
struct ZkSettings {
    std::string connect;  // host:port[,host:port...][/chroot]
    std::string auth;     // "" or "digest:user:password"
    std::chrono::milliseconds session_timeout{6000};
    /// How long the constructor waits for a session; zero: it does not wait
    /// (the client connects, and authenticates, in the background).
    std::chrono::milliseconds connect_timeout{10000};
};

/// Result codes the callers handle themselves (the C client's values).
enum class ZkResult { ok, no_node, node_exists, not_empty, no_auth, connection_loss, other };

/// One ZooKeeper session. Lifecycle: the constructor connects and, with auth,
/// authenticates, waiting up to connect_timeout (throws ZkError on failure;
/// with a zero timeout it returns at once and connected() tells when it is);
/// the destructor closes the session (its ephemeral nodes go with it). The
/// session may expire meanwhile: expired() then stays true and a new ZkClient
/// is needed. Calls block the calling thread until ZooKeeper answers or the
/// connection is lost; use one ZkClient from one thread at a time (the C
/// client's own threads only touch the internal state through atomics).
/// Paths are absolute below the chroot ("/consumers/g").
class ZkClient {
  public:
    explicit ZkClient(const ZkSettings &settings);
    ~ZkClient();
    ZkClient(const ZkClient &) = delete;
    ZkClient &operator=(const ZkClient &) = delete;

    bool connected() const;
    /// The session is gone for good (expired, or the authentication was refused).
    bool expired() const;
    int64_t session_id() const;
    const std::string &chroot() const { return address_.chroot; }

    /// Creates `path` with `data`, the ACL of the settings' auth (full rights for
    /// the authenticated identity, read for everyone), or open without auth.
    ZkResult create(const std::string &path, std::string_view data, bool ephemeral);
    /// Creates every missing node of `path` (and of the chroot), empty. Throws ZkError.
    void ensure_path(const std::string &path);
    ZkResult set(const std::string &path, std::string_view data);
    ZkResult remove(const std::string &path);
    /// The node's data, or nullopt when it does not exist. `ephemeral_owner` gets
    /// the owning session (0 for persistent nodes). Throws ZkError on other errors.
    std::optional<std::string> get(const std::string &path, int64_t *ephemeral_owner = nullptr);
    /// Child names, or empty when the node does not exist. Throws ZkError.
    std::vector<std::string> children(const std::string &path);

    /// A one-line description of `code`, e.g. "connection loss (ZCONNECTIONLOSS)".
    static std::string describe(int code);

  private:
    struct State;
    std::string full(const std::string &path) const;
    ZkResult classify(int rc) const;

    ZkAddress address_;
    std::unique_ptr<State> state_;  // shared with the C client's watcher thread
};

}  // namespace sluice::zk
