#include "isolation/worker_main.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "isolation/wire.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::isolation {

namespace {

std::mutex g_write;  // one frame at a time on the socket: replies and logs from any thread
uint64_t g_memory_limit = 0;

void send_locked(Msg type, std::string_view payload) {
    std::lock_guard lock(g_write);
    send_message(kWorkerSocketFd, type, payload);
}

// The plugin's log lines go to the host, which logs them and keeps the last ones for a crash
// report.
class SocketSink final : public spdlog::sinks::base_sink<std::mutex> {
  protected:
    void sink_it_(const spdlog::details::log_msg &msg) override {
        Writer w;
        w.i32(static_cast<int32_t>(msg.level));
        w.str(std::string_view(msg.payload.data(), msg.payload.size()));
        send_locked(Msg::log, w.data());
    }
    void flush_() override {}
};

// On a fatal signal: tell the host when the address space is at the memory limit (that is why
// an allocation failed), then die of the signal. Async-signal-safe calls only.
void on_fatal_signal(int sig) {
    if (g_memory_limit > 0) {
        char buf[64];
        const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) ::close(fd);
        uint64_t pages = 0;
        for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
            pages = pages * 10 + static_cast<uint64_t>(buf[i] - '0');
        const uint64_t bytes = pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        if (bytes >= g_memory_limit / 10 * 8) {
            char frame[12] = {};
            const auto t = static_cast<uint32_t>(Msg::oom);
            std::memcpy(frame, &t, 4);
            ::send(kWorkerSocketFd, frame, sizeof frame, MSG_NOSIGNAL);
        }
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void install_fatal_handlers() {
    static char alt_stack[64 * 1024];
    stack_t ss{};
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    ::sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_handler = &on_fatal_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::sigaction(sig, &sa, nullptr);
}

void reply(const plugins::ChainResult &r, const plugins::PluginInstance *inst,
           const std::string &extra = {}) {
    Writer w;
    w.i32(r.status);
    w.str(r.message);
    if (inst != nullptr) {
        w.u64(inst->metrics().custom.size());
        for (const auto &[k, v] : inst->metrics().custom) {
            w.str(k);
            w.f64(v);
        }
    } else {
        w.u64(0);
    }
    w.raw(extra.data(), extra.size());
    send_locked(Msg::reply, w.data());
}

struct Partitions {
    std::vector<std::string> topics;
    std::vector<sluice_topic_partition_t> c;
};
Partitions read_partitions(Reader &r) {
    Partitions p;
    const uint64_t n = r.u64();
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
        p.topics.push_back(r.str());
        p.c.push_back({sizeof(sluice_topic_partition_t), nullptr, r.i32()});
    }
    for (size_t i = 0; i < p.c.size(); ++i) p.c[i].topic = p.topics[i].c_str();
    return p;
}

plugins::ChainResult failure(const std::string &message) {
    return {SLUICE_FATAL, "", message};
}

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif

/// forbid-exec = true: from here on execve and execveat fail with EPERM in this process and
/// whatever it forks (no_new_privs is already set, so no privilege is needed). A call made
/// under another architecture's numbering (x32, i386 on x86-64) kills the process: the numbers
/// checked would not mean exec there. Returns "" or why the kernel refused the filter.
std::string forbid_exec() {
#ifdef SECCOMP_RET_ERRNO
#if defined(__x86_64__) || defined(__aarch64__)
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#if defined(__x86_64__)
        // x32 calls are native arch with bit 30 set in the number: refuse them all.
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 3, 0),
#else
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 3, 0),  // never: keeps the offsets
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0)
        return std::string("the kernel refused the seccomp filter: ") + std::strerror(errno);
    return "";
#else
    return "seccomp filters are not supported on this architecture";
#endif
#else
    return "this build has no seccomp support";
#endif
}

}  // namespace

int run_plugin_worker() {
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::close_range(kWorkerOutputFd + 1, ~0U, 0);  // the host closed them too; be sure
    ::signal(SIGPIPE, SIG_IGN);
    auto logger = std::make_shared<spdlog::logger>("worker", std::make_shared<SocketSink>());
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);

    Msg type{};
    std::string payload;
    const auto forever = std::chrono::steady_clock::time_point::max();
    if (recv_message(kWorkerSocketFd, &type, &payload, forever) != RecvResult::message ||
        type != Msg::init)
        return 2;
    Reader in(payload);
    const std::string name = in.str();
    const std::string path = in.str();
    g_memory_limit = in.u64();
    const bool no_exec = in.u64() != 0;
    std::map<std::string, std::string> config;
    for (uint64_t n = in.u64(), i = 0; i < n && in.ok(); ++i) {
        std::string k = in.str();
        config[k] = in.str();
    }
    const std::string snapshot = in.str();
    Partitions assigned = read_partitions(in);
    if (!in.ok()) return 2;

    if (g_memory_limit > 0) {
        rlimit lim{g_memory_limit, g_memory_limit};
        ::setrlimit(RLIMIT_AS, &lim);
    }
    if (no_exec) {
        if (const std::string why = forbid_exec(); !why.empty()) {
            reply(failure("forbid-exec = true: " + why + "; set forbid-exec = false"), nullptr);
            return 1;
        }
    }
    install_fatal_handlers();

    std::unique_ptr<plugins::PluginInstance> inst;
    try {
        plugins::PluginLoader loader({std::filesystem::path(path).parent_path()});
        inst = std::make_unique<plugins::PluginInstance>(loader.load_file(name, path),
                                                         std::move(config));
    } catch (const std::exception &e) {
        reply(failure(e.what()), nullptr);
        return 1;
    }
    plugins::ChainResult r;
    if (!snapshot.empty()) r = inst->restore_state(snapshot);
    if (r.ok() && !assigned.c.empty())
        r = inst->partitions_assigned(assigned.c.data(), assigned.c.size());
    reply(r, inst.get());

    SharedRegion input(kWorkerInputFd);
    SharedRegion output(kWorkerOutputFd);
    DecodedBatch batch;
    for (;;) {
        if (recv_message(kWorkerSocketFd, &type, &payload, forever) != RecvResult::message)
            return 0;  // the host closed the socket: its instance is destroyed with us
        Reader msg(payload);
        Writer extra;
        switch (type) {
            case Msg::process:
            case Msg::flush: {
                const uint64_t used = msg.u64();
                if (!input.map(used) || !decode_batch(input.base(), used, &batch)) {
                    reply(failure("the worker could not read the batch from shared memory"),
                          inst.get());
                    continue;
                }
                if (type == Msg::flush) {
                    reply(inst->flush(batch.batch), inst.get());
                    continue;
                }
                r = inst->process_batch(batch.batch);
                uint64_t out_used = 0;
                if (r.ok() && inst->is_transform()) {
                    out_used = encode_batch(inst->emitted_batch(batch.batch), output);
                    if (out_used == 0) r = failure("out of memory laying out the emitted records");
                }
                extra.u64(out_used);
                std::string state;
                const bool snap =
                    r.ok() && inst->has_state_hooks() && inst->snapshot_state(&state).ok();
                extra.u32(snap ? 1 : 0);
                extra.str(state);
                reply(r, inst.get(), extra.data());
                break;
            }
            case Msg::assigned:
            case Msg::revoked: {
                Partitions p = read_partitions(msg);
                reply(type == Msg::assigned ? inst->partitions_assigned(p.c.data(), p.c.size())
                                            : inst->partitions_revoked(p.c.data(), p.c.size()),
                      inst.get());
                break;
            }
            case Msg::resume: {
                Partitions p = read_partitions(msg);
                std::vector<int64_t> offsets(p.c.size(), -1);
                r = inst->resume_offsets(p.c.data(), p.c.size(), offsets.data());
                for (int64_t o : offsets) extra.i64(o);
                reply(r, inst.get(), extra.data());
                break;
            }
            case Msg::snapshot: {
                std::string state;
                r = inst->snapshot_state(&state);
                extra.str(state);
                reply(r, inst.get(), extra.data());
                break;
            }
            case Msg::restore:
                reply(inst->restore_state(msg.str()), inst.get());
                break;
            default:
                reply(failure("the worker got a message it does not know"), inst.get());
        }
    }
}

}  // namespace sluice::isolation
