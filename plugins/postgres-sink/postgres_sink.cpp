// postgres-sink: exactly-once output to PostgreSQL. Per batch one transaction writes the
// records with a binary COPY and moves each partition's stored next offset to the batch's
// until_offset; a replayed batch skips what is stored. See README.md for the tables, the
// keys and what the sink does on each error.

#include <endian.h>
#include <libpq-fe.h>

#include <sluice/plugin.hpp>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr const char *kPrefix = "postgres-sink: ";
/// The advisory lock key under which the tables are created (any constant of our own).
constexpr long long kCreateTablesLock = 0x736c7569636531;  // "sluice1"

/// A topic-partition as map key; the transparent comparator lets a record's string_view
/// topic look it up without allocating.
struct PartitionKey {
    std::string topic;
    int32_t partition;
};
struct PartitionView {
    std::string_view topic;
    int32_t partition;
};
struct PartitionLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A &a, const B &b) const {
        int c = std::string_view(a.topic).compare(std::string_view(b.topic));
        return c != 0 ? c < 0 : a.partition < b.partition;
    }
};
using NextOffsets = std::map<PartitionKey, int64_t, PartitionLess>;

/// libpq's messages end in '\n' and may span lines: one line, trimmed.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\n' || c == '\r') {
            if (!out.empty() && out.back() != ' ') out += "; ";
            continue;
        }
        out += c;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
    return out;
}

std::string base64(std::string_view bytes) {
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(bytes.size()), '\0');
    out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
    return out;
}

struct ResultDeleter {
    void operator()(PGresult *r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
    void operator()(PGconn *c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

/// SQLSTATEs after which the same transaction may succeed later: connection loss, a server
/// shutting down or starting, lack of resources, serialization and lock conflicts, and a
/// unique violation (another writer inserted the same partition's offsets first).
bool retryable_sqlstate(std::string_view state) {
    return state.starts_with("08") || state.starts_with("53") || state.starts_with("57P") ||
           state == "40001" || state == "40P01" || state == "55P03" || state == "23505";
}

/// The binary COPY stream of a batch, built in one buffer (network byte order).
class CopyBuffer {
  public:
    void header() {
        static const char signature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
        buf_.append(signature, 11);
        u32(0);  // flags
        u32(0);  // header extension length
    }
    void tuple(int16_t fields) { u16(static_cast<uint16_t>(fields)); }
    void null() { u32(0xFFFFFFFFu); }
    void bytes(std::string_view b) {
        u32(static_cast<uint32_t>(b.size()));
        buf_.append(b.data(), b.size());
    }
    void int4(int32_t v) {
        u32(4);
        u32(static_cast<uint32_t>(v));
    }
    void int8(int64_t v) {
        u32(8);
        const uint64_t be = htobe64(static_cast<uint64_t>(v));
        buf_.append(reinterpret_cast<const char *>(&be), 8);
    }
    /// jsonb's binary form: version 1, then the JSON text.
    void jsonb(std::string_view text) {
        u32(static_cast<uint32_t>(text.size() + 1));
        buf_ += '\1';
        buf_.append(text.data(), text.size());
    }
    void trailer() { u16(0xFFFFu); }

    std::size_t size() const { return buf_.size(); }
    const std::string &data() const { return buf_; }
    void clear() { buf_.clear(); }

  private:
    void u16(uint16_t v) {
        const uint16_t be = htobe16(v);
        buf_.append(reinterpret_cast<const char *>(&be), 2);
    }
    void u32(uint32_t v) {
        const uint32_t be = htobe32(v);
        buf_.append(reinterpret_cast<const char *>(&be), 4);
    }
    std::string buf_;
};

/// The records table's columns, by role: config key, default name, SQL type.
struct ColumnRole {
    const char *key;
    const char *default_name;
    const char *type;
};
constexpr ColumnRole kColumns[] = {
    {"topic-column", "topic", "text"},      {"partition-column", "partition", "integer"},
    {"offset-column", "offset", "bigint"},  {"timestamp-column", "timestamp", "bigint"},
    {"key-column", "key", "bytea"},         {"value-column", "value", "bytea"},
    {"headers-column", "headers", "jsonb"},
};
constexpr std::size_t kColumnCount = std::size(kColumns);
// The offsets table's columns (fixed names: README.md).
constexpr ColumnRole kOffsetColumns[] = {
    {"", "topic", "text"}, {"", "partition", "integer"}, {"", "next_offset", "bigint"}};

/// Lifecycle: one per instance. Constructed (create) and destroyed on the control thread, or
/// the reloader's thread during hot reload; process and partitions_assigned on the batch
/// thread; resume_offsets on the control thread before the first batch. Never two calls at
/// once (the host's rule), so the one connection needs no lock.
///
/// Exactly-once per partition: next_ mirrors the offsets table, read at create, after any
/// failed transaction and on an assignment change. A record below its partition's stored
/// next offset is skipped; the offsets are upserted in the records' transaction, guarded by
/// the value this instance read (another writer's commit in between makes it Retry and
/// re-read, never write twice).
///
/// Errors: a server that cannot be reached (or a transaction it aborts for a transient
/// reason: SQLSTATE classes 08, 53, 57P, conflicts) is Retry; a table whose columns differ
/// from the configured ones, and any other SQL error, is Fatal.
class PostgresSink {
  public:
    // The keys of [plugin.postgres-sink]: any other key there is refused by the host.
    static std::vector<sluice::ConfigKey> config_keys() {
        std::vector<sluice::ConfigKey> keys = {
            {"conninfo", sluice::ConfigType::string, std::nullopt,
             "required: the libpq connection string, e.g. 'host=127.0.0.1 port=5432 "
             "dbname=events user=sluice' or postgresql://..."},
            {"table", sluice::ConfigType::string, "sluice_records",
             "the records table (schema.table allowed; names are taken literally)"},
            {"offsets-table", sluice::ConfigType::string, "sluice_offsets",
             "the table of each partition's next offset, written in the records' transaction"},
            {"create-tables", sluice::ConfigType::boolean, "true",
             "create both tables when they do not exist (false: they must exist)"},
        };
        for (const ColumnRole &c : kColumns) {
            keys.push_back({c.key, sluice::ConfigType::string, std::string(c.default_name),
                            std::string("the ") + c.type + " column of the records table"});
        }
        return keys;
    }

    explicit PostgresSink(sluice::Host &host)
        : host_(host),
          conninfo_(required_conninfo(host)),
          table_name_(host.config_or("table", "sluice_records")),
          offsets_name_(host.config_or("offsets-table", "sluice_offsets")),
          create_tables_(host.config_bool("create-tables", true)) {
        for (std::size_t i = 0; i < kColumnCount; ++i) {
            columns_[i] = host.config_or(kColumns[i].key, kColumns[i].default_name);
            if (columns_[i].empty()) {
                throw sluice::Fatal(std::string(kPrefix) + "[plugin.postgres-sink] " +
                                    kColumns[i].key + " is empty: name a column or remove the key");
            }
        }
        for (std::size_t i = 0; i < kColumnCount; ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (columns_[i] == columns_[j]) {
                    throw sluice::Fatal(std::string(kPrefix) + kColumns[i].key + " and " +
                                        kColumns[j].key + " are both '" + columns_[i] +
                                        "': give each role its own column");
                }
            }
        }
        connect();
    }

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        connect();
        try {
            store(batch);
        } catch (...) {
            // Closing the connection rolls back whatever is open (a failed transaction, a
            // COPY cut short); the next batch reconnects and reads the offsets again, since
            // the transaction may have committed after all (a COMMIT whose answer was lost).
            conn_.reset();
            stale_ = true;
            throw;
        }
        return sluice::Status::ok;
    }

    // Thread: control thread, before the first batch. Answers from the database, not from
    // memory: another host may have stored these partitions since create.
    sluice::Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
                                  sluice::Span<int64_t> offsets) {
        stale_ = true;
        connect();
        for (std::size_t i = 0; i < partitions.size(); ++i) {
            auto it = next_.find(PartitionView{partitions[i].topic, partitions[i].partition});
            offsets[i] = it == next_.end() ? -1 : it->second;
        }
        return sluice::Status::ok;
    }

    // Thread: batch thread, between batches. A partition that comes back may have been
    // written by another host meanwhile: read the offsets again before the next batch.
    sluice::Status partitions_assigned(sluice::Span<const sluice::TopicPartition>) {
        stale_ = true;
        return sluice::Status::ok;
    }

  private:
    static std::string required_conninfo(sluice::Host &host) {
        auto v = host.config("conninfo");
        if (!v || v->empty()) {
            throw sluice::Fatal(std::string(kPrefix) +
                                "[plugin.postgres-sink] conninfo is not set: set it to a libpq "
                                "connection string, e.g. conninfo = host=127.0.0.1 port=5432 "
                                "dbname=events");
        }
        return std::string(*v);
    }

    /// "a.b" -> "\"a\".\"b\"": each part quoted, so names are taken literally.
    std::string qualified(const std::string &name) const {
        std::string out;
        std::size_t start = 0;
        for (;;) {
            const std::size_t dot = name.find('.', start);
            if (!out.empty()) out += '.';
            out += ident(name.substr(start, dot == std::string::npos ? dot : dot - start));
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        return out;
    }
    std::string ident(const std::string &name) const {
        char *q = PQescapeIdentifier(conn_.get(), name.data(), name.size());
        if (q == nullptr) {
            throw sluice::Fatal(std::string(kPrefix) + "cannot quote the name '" + name +
                                "': " + one_line(PQerrorMessage(conn_.get())));
        }
        std::string out(q);
        PQfreemem(q);
        return out;
    }
    std::string literal(std::string_view text) const {
        char *q = PQescapeLiteral(conn_.get(), text.data(), text.size());
        if (q == nullptr) {
            throw sluice::Fatal(std::string(kPrefix) + "cannot quote a topic name: " +
                                one_line(PQerrorMessage(conn_.get())));
        }
        std::string out(q);
        PQfreemem(q);
        return out;
    }

    /// A connection that works, with the tables checked and the offsets read. Reconnects
    /// after a lost connection; reads the offsets again when they may be stale.
    void connect() {
        if (conn_ && PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
        if (!conn_) {
            const char *keys[] = {"fallback_application_name", "dbname", nullptr};
            const char *values[] = {"sluice-postgres-sink", conninfo_.c_str(), nullptr};
            Conn c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
            if (!c) throw sluice::Retry(std::string(kPrefix) + "out of memory connecting");
            if (PQstatus(c.get()) != CONNECTION_OK) {
                const std::string why = one_line(PQerrorMessage(c.get()));
                // A bad conninfo cannot get better by retrying.
                if (why.find("invalid connection option") != std::string::npos ||
                    why.find("missing \"=\"") != std::string::npos ||
                    why.find("invalid URI") != std::string::npos) {
                    throw sluice::Fatal(std::string(kPrefix) + "[plugin.postgres-sink] conninfo: " +
                                        why + ": fix the connection string");
                }
                throw sluice::Retry(std::string(kPrefix) + "cannot connect to PostgreSQL: " + why);
            }
            // Notices ("relation ... already exists, skipping") would go to stderr.
            PQsetNoticeProcessor(
                c.get(), [](void *, const char *) {}, nullptr);
            conn_ = std::move(c);
            table_ = qualified(table_name_);
            offsets_table_ = qualified(offsets_name_);
            prepare_tables();
            build_statements();
            stale_ = true;
        }
        if (stale_) read_offsets();
    }

    /// Runs one statement outside COPY; throws Retry or Fatal (with the server's message)
    /// unless the result has `want`.
    Result exec(const std::string &sql, ExecStatusType want, const char *what) {
        Result r(PQexec(conn_.get(), sql.c_str()));
        check(r.get(), want, what);
        return r;
    }
    Result exec_params(const std::string &sql, std::vector<const char *> params, const char *what) {
        Result r(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                              params.data(), nullptr, nullptr, 0));
        check(r.get(), PGRES_TUPLES_OK, what);
        return r;
    }
    void check(PGresult *r, ExecStatusType want, const char *what) {
        if (r != nullptr && PQresultStatus(r) == want) return;
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        std::string why = one_line(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                                                 : PQerrorMessage(conn_.get()));
        if (why.empty()) why = std::string("unexpected result ") + PQresStatus(PQresultStatus(r));
        if (PQstatus(conn_.get()) != CONNECTION_OK || state == nullptr ||
            retryable_sqlstate(state)) {
            throw sluice::Retry(std::string(kPrefix) + what + ": " + why +
                                ": the batch is retried");
        }
        // A changed table is the likely cause of most other errors: say so if it is.
        if (std::string_view(what) != "checking the tables") {
            abort_transaction();
            verify_table(table_, expected_columns(), true);
            verify_table(offsets_table_, offset_columns(), false);
        }
        throw sluice::Fatal(std::string(kPrefix) + what + ": " + why);
    }
    void abort_transaction() {
        if (conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
            Result r(PQexec(conn_.get(), "ROLLBACK"));
        }
    }

    struct Column {
        std::string name;
        std::string type;
    };
    std::vector<Column> expected_columns() const {
        std::vector<Column> out;
        for (std::size_t i = 0; i < kColumnCount; ++i)
            out.push_back({columns_[i], kColumns[i].type});
        return out;
    }
    static std::vector<Column> offset_columns() {
        std::vector<Column> out;
        for (const ColumnRole &c : kOffsetColumns) out.push_back({c.default_name, c.type});
        return out;
    }

    void prepare_tables() {
        if (create_tables_) {
            std::string cols;
            for (std::size_t i = 0; i < kColumnCount; ++i) {
                if (!cols.empty()) cols += ", ";
                cols += ident(columns_[i]) + " " + kColumns[i].type;
                if (i != 3 && i != 4 && i != 5) cols += " NOT NULL";  // timestamp, key, value
            }
            // Hosts of one group often start together: CREATE TABLE IF NOT EXISTS is not safe
            // against a concurrent one (two may both miss the table and one then fails on
            // pg_type's unique index), so the creations run under a transaction-scoped
            // advisory lock, one connection at a time.
            exec("BEGIN", PGRES_COMMAND_OK, "creating the tables");
            try {
                exec("SELECT pg_advisory_xact_lock(" + std::to_string(kCreateTablesLock) + ")",
                     PGRES_TUPLES_OK, "creating the tables");
                exec("CREATE TABLE IF NOT EXISTS " + table_ + " (" + cols + ")", PGRES_COMMAND_OK,
                     "creating the records table");
                exec("CREATE TABLE IF NOT EXISTS " + offsets_table_ +
                         " (topic text NOT NULL, partition integer NOT NULL, next_offset bigint "
                         "NOT NULL, PRIMARY KEY (topic, partition))",
                     PGRES_COMMAND_OK, "creating the offsets table");
                exec("COMMIT", PGRES_COMMAND_OK, "creating the tables");
            } catch (...) {
                Result(PQexec(conn_.get(), "ROLLBACK"));
                throw;
            }
        }
        verify_table(table_, expected_columns(), true);
        verify_table(offsets_table_, offset_columns(), false);
    }

    /// Throws one Fatal naming the table, the column and the fix when `quoted` lacks one of
    /// `want` (or has it with another type), or has another NOT NULL column without a default
    /// (COPY could not fill it).
    void verify_table(const std::string &quoted, const std::vector<Column> &want, bool records) {
        const char *what = "checking the tables";
        Result exists = exec_params("SELECT to_regclass($1)::oid", {quoted.c_str()}, what);
        const std::string key = records ? "table" : "offsets-table";
        if (PQgetisnull(exists.get(), 0, 0)) {
            throw sluice::Fatal(std::string(kPrefix) + "table " + quoted +
                                " does not exist: create it (README.md has the statement), set "
                                "[plugin.postgres-sink] create-tables = true, or set " +
                                key + " to an existing table");
        }
        const std::string oid = PQgetvalue(exists.get(), 0, 0);
        Result cols = exec_params(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef "
            "FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT "
            "a.attisdropped ORDER BY a.attnum",
            {oid.c_str()}, what);
        std::map<std::string, std::string> have;
        for (int i = 0; i < PQntuples(cols.get()); ++i) {
            const std::string col = PQgetvalue(cols.get(), i, 0);
            have[col] = PQgetvalue(cols.get(), i, 1);
            const bool needed = std::any_of(want.begin(), want.end(),
                                            [&](const Column &c) { return c.name == col; });
            if (!needed && *PQgetvalue(cols.get(), i, 2) == 't' &&
                *PQgetvalue(cols.get(), i, 3) != 't') {
                throw sluice::Fatal(
                    std::string(kPrefix) + "table " + quoted + " has column " + ident(col) +
                    " NOT NULL without a default, which the sink cannot fill: "
                    "give it a default (ALTER TABLE " +
                    quoted + " ALTER COLUMN " + ident(col) +
                    " SET DEFAULT ...), drop NOT NULL, or set " + key + " to another table");
            }
        }
        for (std::size_t i = 0; i < want.size(); ++i) {
            const Column &c = want[i];
            const std::string role =
                records ? std::string(" (set [plugin.postgres-sink] ") + kColumns[i].key +
                              " to the column that holds it)"
                        : std::string(" (the offsets table's columns are fixed: README.md)");
            auto it = have.find(c.name);
            if (it == have.end()) {
                throw sluice::Fatal(std::string(kPrefix) + "table " + quoted + " has no column " +
                                    ident(c.name) + " (" + c.type + "): add it (ALTER TABLE " +
                                    quoted + " ADD COLUMN " + ident(c.name) + " " + c.type + ")" +
                                    role + ", or set " + key + " to a new table");
            }
            if (it->second != c.type) {
                throw sluice::Fatal(std::string(kPrefix) + "column " + ident(c.name) +
                                    " of table " + quoted + " is " + it->second + ", expected " +
                                    c.type + ": change its type (ALTER TABLE " + quoted +
                                    " ALTER COLUMN " + ident(c.name) + " TYPE " + c.type + ")" +
                                    role + ", or set " + key + " to a new table");
            }
        }
    }

    void build_statements() {
        std::string cols;
        for (const std::string &c : columns_) {
            if (!cols.empty()) cols += ", ";
            cols += ident(c);
        }
        copy_sql_ = "COPY " + table_ + " (" + cols + ") FROM STDIN (FORMAT binary)";
    }

    void read_offsets() {
        Result r = exec("SELECT topic, partition, next_offset FROM " + offsets_table_,
                        PGRES_TUPLES_OK, "reading the stored offsets");
        NextOffsets next;
        for (int i = 0; i < PQntuples(r.get()); ++i) {
            next[PartitionKey{PQgetvalue(r.get(), i, 0),
                              static_cast<int32_t>(std::stol(PQgetvalue(r.get(), i, 1)))}] =
                std::stoll(PQgetvalue(r.get(), i, 2));
        }
        next_ = std::move(next);
        stale_ = false;
    }

    static void append_headers_json(std::string &out, const sluice::Record &record) {
        nlohmann::json headers = nlohmann::json::array();
        for (const sluice::Header &h : record.headers()) {
            headers.push_back({std::string(h.name), h.value ? nlohmann::json(base64(*h.value))
                                                            : nlohmann::json(nullptr)});
        }
        // Header names are not guaranteed UTF-8 (jsonb insists): replace bad bytes.
        out = headers.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }

    void put_copy(CopyBuffer &buf) {
        if (buf.size() == 0) return;
        if (PQputCopyData(conn_.get(), buf.data().data(), static_cast<int>(buf.size())) != 1) {
            throw sluice::Retry(std::string(kPrefix) + "sending the records: " +
                                one_line(PQerrorMessage(conn_.get())) + ": the batch is retried");
        }
        buf.clear();
    }

    void store(const sluice::Batch &batch) {
        // The new next offset of every partition the batch covers, and whether it moves.
        NextOffsets next = next_;
        bool moved = false;
        auto raise = [&](std::string_view topic, int32_t partition, int64_t to) {
            auto it = next.find(PartitionView{topic, partition});
            if (it == next.end()) {
                next.emplace(PartitionKey{std::string(topic), partition}, to);
                moved = true;
            } else if (it->second < to) {
                it->second = to;
                moved = true;
            }
        };
        for (const sluice::OffsetRange &r : batch.ranges())
            raise(r.topic, r.partition, r.until_offset);

        uint64_t written = 0, skipped = 0;
        bool copying = false;
        CopyBuffer buf;
        std::string headers;
        for (const sluice::Record &record : batch.records()) {
            auto it = next_.find(PartitionView{record.topic(), record.partition()});
            if (it != next_.end() && record.offset() < it->second) {
                ++skipped;  // stored by an earlier run of this batch
                continue;
            }
            if (!copying) {
                exec("BEGIN", PGRES_COMMAND_OK, "starting the transaction");
                exec(copy_sql_, PGRES_COPY_IN, "starting the COPY");
                copying = true;
                buf.header();
            }
            raise(record.topic(), record.partition(), record.offset() + 1);
            buf.tuple(static_cast<int16_t>(kColumnCount));
            buf.bytes(record.topic());
            buf.int4(record.partition());
            buf.int8(record.offset());
            if (record.timestamp() < 0) {
                buf.null();
            } else {
                buf.int8(record.timestamp());
            }
            if (auto k = record.key()) {
                buf.bytes(*k);
            } else {
                buf.null();
            }
            if (auto v = record.value()) {
                buf.bytes(*v);
            } else {
                buf.null();
            }
            if (record.headers().empty()) {
                buf.jsonb("[]");
            } else {
                append_headers_json(headers, record);
                buf.jsonb(headers);
            }
            ++written;
            if (buf.size() >= (1u << 20)) put_copy(buf);
        }
        if (!moved && !copying) {
            host_.counter("records_skipped", static_cast<double>(skipped));
            return;  // a replay of a stored batch: nothing to do
        }
        if (copying) {
            buf.trailer();
            put_copy(buf);
            if (PQputCopyEnd(conn_.get(), nullptr) != 1) {
                throw sluice::Retry(std::string(kPrefix) +
                                    "ending the COPY: " + one_line(PQerrorMessage(conn_.get())) +
                                    ": the batch is retried");
            }
            Result done(PQgetResult(conn_.get()));
            check(done.get(), PGRES_COMMAND_OK, "writing the records");
            while (Result more{PQgetResult(conn_.get())}) {
            }
        } else {
            exec("BEGIN", PGRES_COMMAND_OK, "starting the transaction");
        }
        upsert_offsets(next);
        exec("COMMIT", PGRES_COMMAND_OK, "committing");
        next_ = std::move(next);
        host_.counter("records_written", static_cast<double>(written));
        host_.counter("records_skipped", static_cast<double>(skipped));
    }

    /// Moves each changed partition's stored next offset, guarded by the value this instance
    /// read: an UPDATE only where the row still holds it, an INSERT where there was none (a
    /// unique violation if another writer inserted it first). Fewer rows than expected means
    /// another writer stored the partition meanwhile: Retry, after reading the offsets again.
    void upsert_offsets(const NextOffsets &next) {
        std::string values;
        int changed = 0;
        for (const auto &[key, to] : next) {
            auto old = next_.find(key);
            if (old != next_.end() && old->second == to) continue;
            if (!values.empty()) values += ", ";
            values += "(" + literal(key.topic) + "::text, " + std::to_string(key.partition) +
                      "::integer, " + std::to_string(to) + "::bigint, " +
                      (old == next_.end() ? std::string("NULL") : std::to_string(old->second)) +
                      "::bigint)";
            ++changed;
        }
        if (changed == 0) return;
        const std::string sql =
            "WITH v(topic, partition, next_offset, expected) AS (VALUES " + values +
            "), upd AS (UPDATE " + offsets_table_ +
            " o SET next_offset = v.next_offset FROM v WHERE o.topic = v.topic AND o.partition "
            "= v.partition AND o.next_offset = v.expected RETURNING 1), ins AS (INSERT INTO " +
            offsets_table_ +
            " (topic, partition, next_offset) SELECT topic, partition, next_offset FROM v WHERE "
            "expected IS NULL RETURNING 1) SELECT (SELECT count(*) FROM upd) + (SELECT count(*) "
            "FROM ins)";
        Result r = exec(sql, PGRES_TUPLES_OK, "storing the offsets");
        if (std::stol(PQgetvalue(r.get(), 0, 0)) != changed) {
            abort_transaction();
            throw sluice::Retry(std::string(kPrefix) + "another writer stored offsets in " +
                                offsets_table_ +
                                " since this instance read them: reading them again, the batch is "
                                "retried");
        }
    }

    sluice::Host &host_;
    const std::string conninfo_;
    const std::string table_name_, offsets_name_;
    const bool create_tables_;
    std::string columns_[kColumnCount];
    Conn conn_;
    std::string table_, offsets_table_, copy_sql_;  // quoted with conn_'s rules
    NextOffsets next_;   // the offsets table as this instance last read or wrote it
    bool stale_ = true;  // next_ must be read again before it is trusted
};

}  // namespace

SLUICE_PLUGIN(PostgresSink, "postgres-sink", "1.0.0",
              "Writes records to PostgreSQL with COPY; offsets in the same transaction (exactly "
              "once)",
              0);
