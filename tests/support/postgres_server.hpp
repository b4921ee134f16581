#pragma once
// PostgresServer: a private, real PostgreSQL 15 server (Debian's `postgresql-15`) for tests:
// initdb into a fresh directory, pg_ctl on a free loopback port, run as the `postgres` system
// user when the test runs as root (the server refuses to run as root; CI runs as root).
// Plus a small libpq client for the tests' own queries.

#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "temp_dir.hpp"
#include "zookeeper_server.hpp"  // free_port()

namespace sluice::test {

/// Lifecycle: the constructor runs initdb and starts the server, waiting until pg_isready
/// answers (throws with the server log's path if not within the timeout); stop() and start()
/// take it down (pg_ctl stop -m fast) and up again on the same port and data; the destructor
/// stops it and removes the directory. One (test) thread.
class PostgresServer {
  public:
    static constexpr const char *kBin = "/usr/lib/postgresql/15/bin/";

    /// `settings`: extra server settings, e.g. {"fsync=off"} (each becomes `-c NAME=VALUE`).
    explicit PostgresServer(std::vector<std::string> settings = {"fsync=off"})
        : dir_(temp_dir("sluice-pg")),
          port_(ZooKeeperServer::free_port()),
          settings_(std::move(settings)) {
        // mkdtemp made it 0700 for root: the server's user must own it.
        if (::geteuid() == 0) {
            const passwd *pw = ::getpwnam("postgres");
            if (pw == nullptr)
                throw std::runtime_error(
                    "PostgresServer: no 'postgres' user to run the server as (install the "
                    "Debian package postgresql-15)");
            if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
                throw std::runtime_error("PostgresServer: cannot chown " + dir_.path().string());
        }
        // Trust auth on loopback; --no-sync: a test server's catalog need not survive a power
        // cut, and initdb is twice as fast without it.
        run({std::string(kBin) + "initdb", "-D", data_dir(), "-U", "postgres", "-A", "trust", "-E",
             "UTF8", "--locale=C", "--no-sync"},
            std::chrono::seconds(60), "initdb");
        start();
    }

    ~PostgresServer() {
        try {
            stop();
        } catch (...) {
            // The directory goes anyway; a server left running dies when its files do.
        }
    }
    PostgresServer(const PostgresServer &) = delete;
    PostgresServer &operator=(const PostgresServer &) = delete;

    int port() const { return port_; }
    std::string data_dir() const { return dir_.file("data"); }
    std::string log_path() const { return dir_.file("server.log"); }
    bool running() const { return running_; }

    /// A libpq connection string for database `dbname` as the superuser `postgres`.
    std::string conninfo(const std::string &dbname = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname +
               " connect_timeout=5";
    }

    void start(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        if (running_) throw std::logic_error("PostgresServer::start: already running");
        std::string options = "-p " + std::to_string(port_) + " -k " + dir_.path().string() +
                              " -c listen_addresses=127.0.0.1";
        for (const auto &s : settings_) options += " -c " + s;
        run({std::string(kBin) + "pg_ctl", "-D", data_dir(), "-l", log_path(), "-o", options,
             "start"},
            timeout, "pg_ctl start");
        running_ = true;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!ready()) {
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("PostgreSQL not ready on port " + std::to_string(port_) +
                                         ": see " + log_path());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    /// pg_ctl stop -m fast: clients are disconnected, open transactions roll back.
    void stop() {
        if (!running_) return;
        running_ = false;
        run({std::string(kBin) + "pg_ctl", "-D", data_dir(), "-m", "fast", "-w", "stop"},
            std::chrono::seconds(60), "pg_ctl stop");
    }

    /// pg_isready answers "accepting connections".
    bool ready() const {
        ChildProcess p({std::string(kBin) + "pg_isready", "-q", "-h", "127.0.0.1", "-p",
                        std::to_string(port_)},
                       ChildProcess::Options{"/dev/null", true});
        auto st = p.wait(std::chrono::seconds(10));
        return st && st->exited() && st->code == 0;
    }

  private:
    /// Runs a server tool (as `postgres` when we are root) and waits for it; throws with its
    /// output when it fails.
    void run(std::vector<std::string> argv, std::chrono::milliseconds timeout,
             const std::string &what) const {
        if (::geteuid() == 0)
            argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
        const std::string err = dir_.file(what.substr(0, what.find(' ')) + ".err");
        ChildProcess p(argv, ChildProcess::Options{err, true});
        auto st = p.wait(timeout);
        if (!st) throw std::runtime_error(what + " did not finish in time");
        if (!st->exited() || st->code != 0) {
            auto out = p.read_all(std::chrono::seconds(1));
            throw std::runtime_error(what + " failed (" + st->describe() +
                                     "): " + out.value_or("") + read_text(err) + " (server log " +
                                     log_path() + ")");
        }
    }
    static std::string read_text(const std::string &path) {
        std::FILE *f = std::fopen(path.c_str(), "rb");
        if (f == nullptr) return "";
        std::string out;
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
        std::fclose(f);
        return out;
    }

    TempDir dir_;
    int port_;
    std::vector<std::string> settings_;
    bool running_ = false;
};

/// One row of a query result: each field as text, nullopt for NULL.
using PgRow = std::vector<std::optional<std::string>>;

/// A libpq connection for the tests' own statements. Lifecycle: connects in the
/// constructor (throws with libpq's message); one thread.
class PgClient {
  public:
    explicit PgClient(const std::string &conninfo)
        : conn_(PQconnectdb(conninfo.c_str()), PQfinish) {
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw std::runtime_error(std::string("PgClient: ") + PQerrorMessage(conn_.get()));
    }

    /// Runs `sql` (one or more statements); returns the last one's rows. Throws on error.
    std::vector<PgRow> query(const std::string &sql) {
        std::unique_ptr<PGresult, void (*)(PGresult *)> r(PQexec(conn_.get(), sql.c_str()),
                                                          PQclear);
        const auto st = PQresultStatus(r.get());
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            throw std::runtime_error("PgClient: " + sql + ": " + PQerrorMessage(conn_.get()));
        std::vector<PgRow> rows;
        for (int i = 0; i < PQntuples(r.get()); ++i) {
            PgRow row;
            for (int j = 0; j < PQnfields(r.get()); ++j) {
                if (PQgetisnull(r.get(), i, j))
                    row.emplace_back(std::nullopt);
                else
                    row.emplace_back(std::string(PQgetvalue(r.get(), i, j),
                                                 static_cast<size_t>(PQgetlength(r.get(), i, j))));
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }
    void exec(const std::string &sql) { (void)query(sql); }
    /// The single value of a one-row, one-column query.
    std::string scalar(const std::string &sql) {
        auto rows = query(sql);
        if (rows.size() != 1 || rows[0].size() != 1 || !rows[0][0])
            throw std::runtime_error("PgClient: " + sql + ": not one non-NULL value");
        return *rows[0][0];
    }

  private:
    std::unique_ptr<PGconn, void (*)(PGconn *)> conn_;
};

}  // namespace sluice::test
