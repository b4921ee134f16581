#include "isolation/worker_backend.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include "config/error_policy.hpp"
#include "isolation/worker_main.hpp"
#include "plugins/plugin_error.hpp"

namespace sluice::isolation {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kLastLines = 8;    // the plugin's log lines a crash report quotes
constexpr int kMaxBisectRuns = 64;  // worker deaths spent looking for the poison records
constexpr size_t kMaxPoison = 16;   // more than this: the batch as a whole is the cause

std::string signal_text(int sig) {
    const char *abbrev = sigabbrev_np(sig);
    const char *desc = sigdescr_np(sig);
    return std::string("SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) + " (" +
           (desc ? desc : "signal") + ")";
}

std::string self_executable() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("/proc/self/exe") : p.string();
}

}  // namespace

WorkerBackend::WorkerBackend(const plugins::PluginLibrary &lib,
                             std::map<std::string, std::string> config, IsolationOptions options)
    : name_(lib.name()),
      path_(lib.deployed_path().string()),
      config_(std::move(config)),
      options_(options),
      executable_(self_executable()),
      input_(SharedRegion::create_fd("sluice-batch")),
      output_(SharedRegion::create_fd("sluice-emitted")) {
    transform_ = (lib.descriptor().flags & SLUICE_PLUGIN_TRANSFORM) != 0;
    const config::ErrorPolicy policy = config::parse_error_policy(name_, config_);
    give_up_skips_ =
        policy.on_error == config::OnError::skip || policy.on_error == config::OnError::dead_letter;
    for (int attempt = 1;; ++attempt) {
        Outcome out;
        if (spawn(&out)) return;
        if (out.replied) {
            stop_worker();
            throw plugins::plugin_error(
                name_, path_, "create failed in its worker: " + out.result.message,
                "fix its [plugin." + name_ + "] settings or see the plugin's documentation");
        }
        on_death(out.death, "create", attempt, attempt < options_.max_crashes);
        if (attempt >= options_.max_crashes) {
            std::string lines;
            for (const auto &l : last_lines_) lines += (lines.empty() ? "" : " | ") + l;
            throw plugins::plugin_error(name_, path_,
                                        "its worker died " + std::to_string(attempt) +
                                            " times in create: " + out.death +
                                            (lines.empty() ? "" : "; its last log lines: " + lines),
                                        "fix the plugin, or run it in-process to debug it");
        }
        backoff(attempt);
    }
}

WorkerBackend::~WorkerBackend() {
    stop_worker();
}

void WorkerBackend::stop_worker() {
    if (sock_ >= 0) ::close(sock_);
    sock_ = -1;
    if (pid_ <= 0) return;
    // Closing the socket makes the worker destroy the plugin and exit.
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
            spdlog::warn(
                "plugin '{}': its worker (pid {}) did not exit within 5 s of the stop; "
                "killed",
                name_, pid_);
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
}

bool WorkerBackend::spawn(Outcome *out) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        out->death = std::string("socketpair failed: ") + std::strerror(errno);
        return false;
    }
    const std::string command = "plugin-worker";
    char *argv[] = {const_cast<char *>(executable_.c_str()), const_cast<char *>(command.c_str()),
                    nullptr};
    const int in_fd = input_.fd();
    const int out_fd = output_.fd();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Async-signal-safe calls only until exec: the host has threads.
        const int s = ::fcntl(fds[1], F_DUPFD, 10);
        const int i = ::fcntl(in_fd, F_DUPFD, 10);
        const int o = ::fcntl(out_fd, F_DUPFD, 10);
        if (s < 0 || i < 0 || o < 0 || ::dup2(s, kWorkerSocketFd) < 0 ||
            ::dup2(i, kWorkerInputFd) < 0 || ::dup2(o, kWorkerOutputFd) < 0)
            ::_exit(127);
        ::close_range(kWorkerOutputFd + 1, ~0U, 0);  // no inherited descriptor but these
        ::execv(argv[0], argv);
        ::_exit(127);
    }
    ::close(fds[1]);
    if (pid < 0) {
        ::close(fds[0]);
        out->death = std::string("fork failed: ") + std::strerror(errno);
        return false;
    }
    pid_ = pid;
    sock_ = fds[0];
    oom_ = false;
    last_lines_.clear();  // a crash report quotes the dying worker's own lines
    Writer w;
    w.str(name_);
    w.str(path_);
    w.u64(options_.memory_limit);
    w.u64(options_.forbid_exec ? 1 : 0);
    w.u64(config_.size());
    for (const auto &[k, v] : config_) {
        w.str(k);
        w.str(v);
    }
    w.str(snapshot_);
    w.u64(assigned_.size());
    for (const auto &[topic, partition] : assigned_) {
        w.str(topic);
        w.i32(partition);
    }
    *out = call(Msg::init, w.data(), "create");
    return out->replied && out->result.ok();
}

std::string WorkerBackend::reap(bool timed_out) {
    if (sock_ >= 0) ::close(sock_);
    sock_ = -1;
    int status = 0;
    if (timed_out) ::kill(pid_, SIGKILL);
    pid_t got;
    do {
        got = ::waitpid(pid_, &status, 0);
    } while (got < 0 && errno == EINTR);
    const pid_t pid = pid_;
    pid_ = -1;
    std::string how;
    if (timed_out) {
        how = "did not answer within batch-timeout = " +
              std::to_string(options_.batch_timeout.count()) + " ms and was killed";
    } else if (got == pid && WIFSIGNALED(status)) {
        how = "was killed by " + signal_text(WTERMSIG(status));
    } else if (got == pid && WIFEXITED(status)) {
        how = "exited with status " + std::to_string(WEXITSTATUS(status));
    } else {
        how = "went away";
    }
    if (oom_)
        how +=
            ": out of memory (memory-limit = " + std::to_string(options_.memory_limit) + " bytes)";
    return "worker (pid " + std::to_string(pid) + ") " + how;
}

WorkerBackend::Outcome WorkerBackend::call(Msg type, const std::string &payload,
                                           const char * /*what*/) {
    Outcome out;
    const auto deadline = options_.batch_timeout.count() > 0 ? Clock::now() + options_.batch_timeout
                                                             : Clock::time_point::max();
    if (sock_ < 0 || !send_message(sock_, type, payload)) {
        // A send to a dead worker: what its exit says is the report.
        out.death = reap(false);
        return out;
    }
    for (;;) {
        Msg got{};
        std::string body;
        const RecvResult r = recv_message(sock_, &got, &body, deadline);
        if (r != RecvResult::message) {
            out.death = reap(r == RecvResult::timed_out);
            return out;
        }
        if (got == Msg::log) {
            Reader rd(body);
            const int32_t level = rd.i32();
            std::string text = rd.str();
            spdlog::log(static_cast<spdlog::level::level_enum>(std::clamp(level, 0, 6)), "{}",
                        text);
            last_lines_.push_back(std::move(text));
            if (last_lines_.size() > kLastLines) last_lines_.pop_front();
            continue;
        }
        if (got == Msg::oom) {
            oom_ = true;
            continue;
        }
        if (got != Msg::reply) continue;
        Reader rd(body);
        const int32_t status = rd.i32();
        out.result.message = rd.str();
        out.result.status = status >= SLUICE_OK && status <= SLUICE_FATAL
                                ? static_cast<sluice_status_t>(status)
                                : SLUICE_FATAL;
        if (!out.result.ok()) out.result.plugin = name_;
        std::map<std::string, double> custom;
        for (uint64_t n = rd.u64(), i = 0; i < n && rd.ok(); ++i) {
            std::string k = rd.str();
            custom[k] = rd.f64();
        }
        custom_ = std::move(custom);
        // The call's own data follows the common part.
        Writer common;
        common.i32(status);
        common.str(out.result.message);
        common.u64(custom_.size());
        for (const auto &[k, v] : custom_) {
            common.str(k);
            common.f64(v);
        }
        out.extra = body.substr(std::min(body.size(), common.data().size()));
        out.replied = true;
        return out;
    }
}

void WorkerBackend::on_death(const std::string &death, const char *what, int in_row,
                             bool restarting) {
    ++crashes_;
    std::string lines;
    for (const auto &l : last_lines_) lines += (lines.empty() ? "" : " | ") + l;
    spdlog::error("plugin '{}': its {} during {}{} (crash {} of max-crashes = {} in a row){}{}",
                  name_, death, what,
                  current_batch_ >= 0 ? " of batch " + std::to_string(current_batch_) : "", in_row,
                  options_.max_crashes, lines.empty() ? "" : "; its last log lines: " + lines,
                  restarting ? "; restarting it and repeating the call" : "");
}

void WorkerBackend::backoff(int in_row) const {
    auto wait = std::chrono::milliseconds(100);
    for (int i = 1; i < in_row && wait < std::chrono::seconds(5); ++i) wait *= 2;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(wait, std::chrono::seconds(5)));
}

WorkerBackend::Outcome WorkerBackend::call_restarting(Msg type, const std::string &payload,
                                                      const char *what) {
    Outcome out;
    for (int in_row = 1;; ++in_row) {
        if (sock_ < 0) {
            ++restarts_;
            if (!spawn(&out)) {
                if (out.replied) return out;  // create (or its restore/assign) refused
                on_death(out.death, "create", in_row, in_row < options_.max_crashes);
                if (in_row >= options_.max_crashes) return out;
                backoff(in_row);
                continue;
            }
        }
        out = call(type, payload, what);
        if (out.replied) return out;
        on_death(out.death, what, in_row, in_row < options_.max_crashes);
        if (in_row >= options_.max_crashes) return out;
        backoff(in_row);
    }
}

WorkerBackend::Outcome WorkerBackend::run_process(const sluice_batch_t &batch) {
    Outcome out;
    const size_t used = encode_batch(batch, input_);
    if (used == 0) {
        out.replied = true;
        out.result = {SLUICE_FATAL, name_, "out of memory laying the batch out for the worker"};
        return out;
    }
    Writer w;
    w.u64(used);
    if (sock_ < 0) {
        ++restarts_;
        if (!spawn(&out)) return out;
    }
    out = call(Msg::process, w.data(), "process_batch");
    return out;
}

plugins::ChainResult WorkerBackend::give_up(std::string message) const {
    return {give_up_skips_ ? SLUICE_SKIP : SLUICE_FATAL, name_, std::move(message)};
}

plugins::ChainResult WorkerBackend::process_batch(const sluice_batch_t &batch,
                                                  std::map<std::string, double> *custom) {
    subset_failed_ = false;
    emitted_.records.clear();
    current_batch_ = batch.batch_id;
    sluice_batch_t attempt = batch;
    Outcome out;
    int in_row = 1;
    for (;; ++in_row) {
        out = run_process(attempt);
        if (out.replied) break;
        on_death(out.death, "process_batch", in_row, in_row < options_.max_crashes);
        if (in_row >= options_.max_crashes) break;
        backoff(in_row);
        attempt.flags |= SLUICE_BATCH_REPLAY;  // redelivered: the plugin may have seen part
    }
    plugins::ChainResult result;
    if (out.replied) {
        result = out.result;
        Reader rd(out.extra);
        const uint64_t out_used = rd.u64();
        if (rd.u32() == 1) snapshot_ = rd.str();
        if (result.ok() && out_used > 0) {
            if (!output_.map(out_used) || !decode_batch(output_.base(), out_used, &emitted_))
                result = {SLUICE_FATAL, name_, "the worker's emitted records are unreadable"};
        }
    } else if (batch.record_count > 1 && out.replied == false) {
        result = bisect(batch, out.death);
    } else {
        if (batch.record_count == 1) {
            subset_ = {};
            select_records(batch, {0}, &subset_);
            subset_failed_ = true;
            set_passed_on(batch, {});
        }
        result = give_up("its worker died " + std::to_string(in_row) +
                         " times in a row on this batch: " + out.death);
    }
    current_batch_ = -1;
    *custom = custom_;
    (*custom)["isolation_worker_crashes"] = static_cast<double>(crashes_);
    (*custom)["isolation_worker_restarts"] = static_cast<double>(restarts_);
    return result;
}

void WorkerBackend::find_poison(const sluice_batch_t &batch, const std::vector<size_t> &indexes,
                                std::vector<size_t> *poison, int *runs) {
    if (indexes.empty() || *runs >= kMaxBisectRuns || poison->size() > kMaxPoison) return;
    DecodedBatch part;
    select_records(batch, indexes, &part);
    part.batch.flags |= SLUICE_BATCH_REPLAY;
    Outcome out = run_process(part.batch);
    if (out.replied) return;  // no crash in this part
    ++*runs;
    ++crashes_;
    if (indexes.size() == 1) {
        poison->push_back(indexes[0]);
        DecodedBatch one;
        select_records(batch, indexes, &one);
        const sluice_record_t &r = one.records.at(0);
        spdlog::error("plugin '{}': the record {}/{}@{} of batch {} kills its worker: {}", name_,
                      r.topic ? r.topic : "", r.partition, r.offset, batch.batch_id, out.death);
        return;
    }
    const auto half = indexes.begin() + static_cast<std::ptrdiff_t>(indexes.size() / 2);
    find_poison(batch, {indexes.begin(), half}, poison, runs);
    find_poison(batch, {half, indexes.end()}, poison, runs);
}

plugins::ChainResult WorkerBackend::bisect(const sluice_batch_t &batch, const std::string &death) {
    spdlog::warn(
        "plugin '{}': batch {} killed its worker {} times in a row; bisecting its {} "
        "records in the worker to find the cause",
        name_, batch.batch_id, options_.max_crashes, batch.record_count);
    std::vector<size_t> all(batch.record_count);
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::vector<size_t> poison;
    int runs = 0;
    find_poison(batch, all, &poison, &runs);
    const std::string whole = "its worker died " + std::to_string(options_.max_crashes) +
                              " times in a row on this batch: " + death;
    if (poison.empty() || poison.size() > kMaxPoison || runs >= kMaxBisectRuns)
        return give_up(whole + (poison.empty() ? " (no single record reproduces it)"
                                               : " (too many records do)"));
    // The rest of the batch, once, in order: what the plugin has done with it is what counts.
    std::vector<size_t> rest;
    for (size_t i : all)
        if (std::find(poison.begin(), poison.end(), i) == poison.end()) rest.push_back(i);
    if (!rest.empty()) {
        DecodedBatch part;
        select_records(batch, rest, &part);
        part.batch.flags |= SLUICE_BATCH_REPLAY;
        Outcome out = run_process(part.batch);
        if (!out.replied)
            return give_up(whole + " (and again without its poison records: " + out.death + ")");
        if (!out.result.ok()) return out.result;
        Reader rd(out.extra);
        const uint64_t out_used = rd.u64();
        if (rd.u32() == 1) snapshot_ = rd.str();
        if (out_used > 0 &&
            (!output_.map(out_used) || !decode_batch(output_.base(), out_used, &emitted_)))
            return {SLUICE_FATAL, name_, "the worker's emitted records are unreadable"};
    }
    set_passed_on(batch, rest);
    subset_ = {};
    select_records(batch, poison, &subset_);
    subset_failed_ = true;
    std::string which;
    for (size_t i = 0; i < subset_.records.size(); ++i) {
        const auto &r = subset_.records[i];
        which += (which.empty() ? "" : ", ") + std::string(r.topic ? r.topic : "") + "/" +
                 std::to_string(r.partition) + "@" + std::to_string(r.offset);
    }
    return give_up("the record" + std::string(poison.size() > 1 ? "s " : " ") + which +
                   (poison.size() > 1 ? " kill" : " kills") + std::string(" its worker (") + death +
                   "); the other " + std::to_string(rest.size()) +
                   " records of the batch were processed");
}

void WorkerBackend::set_passed_on(const sluice_batch_t &batch, const std::vector<size_t> &rest) {
    rest_ = {};
    select_records(batch, rest, &rest_);
    passed_on_ = rest_.batch;
    if (transform_) {
        if (rest.empty()) emitted_.records.clear();
        passed_on_.records = emitted_.records.empty() ? nullptr : emitted_.records.data();
        passed_on_.record_count = emitted_.records.size();
    }
}

const sluice_batch_t *WorkerBackend::passed_on_without_subset() const {
    return subset_failed_ ? &passed_on_ : nullptr;
}

const sluice_record_t *WorkerBackend::emitted(size_t *count) const {
    *count = emitted_.records.size();
    return emitted_.records.empty() ? nullptr : emitted_.records.data();
}

const sluice_batch_t *WorkerBackend::failed_subset() const {
    return subset_failed_ ? &subset_.batch : nullptr;
}

plugins::ChainResult WorkerBackend::flush(const sluice_batch_t &batch) {
    const size_t used = encode_batch(batch, input_);
    if (used == 0) return {SLUICE_FATAL, name_, "out of memory laying the batch out for flush"};
    Writer w;
    w.u64(used);
    Outcome out = call_restarting(Msg::flush, w.data(), "flush");
    return out.replied ? out.result
                       : plugins::ChainResult{SLUICE_FATAL, name_, "flush: its " + out.death};
}

std::string WorkerBackend::partitions_payload(const sluice_topic_partition_t *tps,
                                              size_t count) const {
    Writer w;
    w.u64(count);
    for (size_t i = 0; i < count; ++i) {
        w.str(tps[i].topic ? tps[i].topic : "");
        w.i32(tps[i].partition);
    }
    return w.data();
}

plugins::ChainResult WorkerBackend::partitions_assigned(const sluice_topic_partition_t *tps,
                                                        size_t count) {
    for (size_t i = 0; i < count; ++i) {
        std::pair<std::string, int32_t> tp{tps[i].topic ? tps[i].topic : "", tps[i].partition};
        if (std::find(assigned_.begin(), assigned_.end(), tp) == assigned_.end())
            assigned_.push_back(std::move(tp));
    }
    Outcome out =
        call_restarting(Msg::assigned, partitions_payload(tps, count), "partitions_assigned");
    return out.replied
               ? out.result
               : plugins::ChainResult{SLUICE_FATAL, name_, "partitions_assigned: its " + out.death};
}

plugins::ChainResult WorkerBackend::partitions_revoked(const sluice_topic_partition_t *tps,
                                                       size_t count) {
    for (size_t i = 0; i < count; ++i) {
        std::pair<std::string, int32_t> tp{tps[i].topic ? tps[i].topic : "", tps[i].partition};
        assigned_.erase(std::remove(assigned_.begin(), assigned_.end(), tp), assigned_.end());
    }
    Outcome out =
        call_restarting(Msg::revoked, partitions_payload(tps, count), "partitions_revoked");
    return out.replied
               ? out.result
               : plugins::ChainResult{SLUICE_FATAL, name_, "partitions_revoked: its " + out.death};
}

plugins::ChainResult WorkerBackend::resume_offsets(const sluice_topic_partition_t *tps,
                                                   size_t count, int64_t *offsets) {
    Outcome out = call_restarting(Msg::resume, partitions_payload(tps, count), "resume_offsets");
    if (!out.replied) return {SLUICE_FATAL, name_, "resume_offsets: its " + out.death};
    Reader rd(out.extra);
    for (size_t i = 0; i < count; ++i) offsets[i] = rd.i64();
    return out.result;
}

plugins::ChainResult WorkerBackend::snapshot_state(std::string *out) {
    Outcome o = call_restarting(Msg::snapshot, {}, "snapshot_state");
    if (!o.replied) return {SLUICE_FATAL, name_, "snapshot_state: its " + o.death};
    Reader rd(o.extra);
    out->append(rd.str());
    return o.result;
}

plugins::ChainResult WorkerBackend::restore_state(std::string_view data) {
    Writer w;
    w.str(data);
    Outcome o = call_restarting(Msg::restore, w.data(), "restore_state");
    if (!o.replied) return {SLUICE_FATAL, name_, "restore_state: its " + o.death};
    if (o.result.ok()) snapshot_ = std::string(data);
    return o.result;
}

namespace {
std::unique_ptr<plugins::InstanceBackend> make_backend(
    const plugins::PluginLibrary &lib, const std::map<std::string, std::string> &config) {
    IsolationOptions options;
    try {
        options = parse_isolation_options(lib.name(), config);
    } catch (const std::exception &e) {
        throw plugins::plugin_error(lib.name(), lib.deployed_path().string(), e.what(),
                                    "fix its [plugin." + lib.name() + "] section");
    }
    if (!options.process) return nullptr;
    return std::make_unique<WorkerBackend>(lib, config, options);
}
}  // namespace

void enable_process_isolation() {
    plugins::PluginInstance::set_backend_factory(&make_backend);
}

}  // namespace sluice::isolation
