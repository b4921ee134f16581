// `sluice run`: parses the options (config/), owns the signals and the embedded brokers, and
// runs the stream of the configured mode (stream/).
#include "app/commands.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "common/logging.hpp"
#include "config/run_config.hpp"
#include "kafka/mock_cluster.hpp"
#include "plugins/plugin_loader.hpp"
#include "plugins/plugin_reloader.hpp"
#include "plugins/plugin_state_store.hpp"
#include "plugins/plugins_command.hpp"
#include "stream/direct_mode.hpp"
#include "stream/exit_codes.hpp"
#include "stream/group_direct_mode.hpp"
#include "stream/receiver_mode.hpp"
#include "stream/run_loop.hpp"
#include "zk/legacy_layout.hpp"

namespace sluice::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/// SIGINT/SIGTERM/SIGHUP, blocked from the first instruction of `sluice run`: a stop asked
/// while the command line is read stays pending until ShutdownController takes it, instead of
/// killing the process half-started. --help and --validate unblock them (nothing to finish).
sigset_t block_stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);  // not a stop: asks hot reload to rescan the plugin files
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    return signals;
}

/// Owns SIGINT/SIGTERM for the whole process. They are blocked in every
/// thread (so librdkafka's threads never see them) and taken here with
/// sigtimedwait: first signal -> stop after the batch in flight; a second
/// one, or shutdown-timeout later -> abort the batch in flight; if even that
/// does not end the run within a grace period, exit without committing.
/// Lifecycle: constructed on the control thread before any other thread,
/// joined in the destructor.
class ShutdownController {
  public:
    explicit ShutdownController(std::chrono::milliseconds shutdown_timeout)
        : timeout_(shutdown_timeout), signals_(block_stop_signals()) {
        thread_ = std::thread([this] { loop(); });
    }
    ~ShutdownController() {
        done_ = true;
        thread_.join();
    }
    const std::atomic<bool> &stop() const { return stop_; }
    const std::atomic<bool> &abort() const { return abort_; }

  private:
    void loop() {
        const timespec tick{0, 100L * 1000 * 1000};
        std::optional<Clock::time_point> stop_at, abort_at;
        while (!done_) {
            const int sig = sigtimedwait(&signals_, nullptr, &tick);
            if (sig == SIGHUP) {
                spdlog::info("SIGHUP received: rescanning the plugin directories");
                plugins::PluginReloader::rescan_all();
            } else if (sig > 0) {
                if (!stop_) {
                    stop_ = true;
                    stop_at = Clock::now();
                    spdlog::info(
                        "{} received: stopping; a batch in flight gets up to {} ms to finish "
                        "(send it again to abandon it)",
                        sig == SIGINT ? "SIGINT" : "SIGTERM", timeout_.count());
                } else if (!abort_) {
                    abort_ = true;
                    abort_at = Clock::now();
                    spdlog::warn("second signal: abandoning the batch in flight");
                }
            }
            if (stop_at && !abort_ && Clock::now() - *stop_at > timeout_) {
                abort_ = true;
                abort_at = Clock::now();
                spdlog::warn("shutdown-timeout passed: abandoning the batch in flight");
            }
            if (abort_at && Clock::now() - *abort_at > std::chrono::seconds(10)) {
                // A plugin call that never returns cannot be interrupted; the
                // batch was not committed, so it is replayed on restart.
                spdlog::error(
                    "the batch in flight is stuck in a plugin; exiting without committing it");
                spdlog::shutdown();
                _exit(stream::kExitAbandoned);
            }
        }
    }

    std::chrono::milliseconds timeout_;
    sigset_t signals_{};
    std::atomic<bool> stop_{false}, abort_{false}, done_{false};
    std::thread thread_;
};

void setup_logging(const std::string &level) {
    use_stderr_logger(log_level_from_name(level).value_or(spdlog::level::info));
}

}  // namespace

int run_command(int argc, char **argv) {
    const sigset_t stop_signals = block_stop_signals();
    const auto unblock = [&] { pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr); };
    config::ParsedRun parsed;
    try {
        parsed = config::parse_run_args(argc, argv);
    } catch (const config::ConfigError &e) {
        std::fprintf(stderr, "sluice run: %s\n(see sluice run --help)\n", e.what());
        return stream::kExitUsage;
    }
    if (parsed.help || parsed.validate) unblock();
    if (parsed.help) {
        std::fputs(config::run_help().c_str(), stdout);
        return stream::kExitOk;
    }
    config::RunConfig cfg = std::move(parsed.config);
    if (cfg.plugin_dirs.empty()) cfg.plugin_dirs = plugins::default_plugin_dirs();
    if (parsed.validate) {
        for (const auto &warning : parsed.warnings)
            std::fprintf(stderr, "sluice run: warning: %s\n", warning.c_str());
        // What the run would refuse at start: each plugin found, loaded and negotiated.
        const auto check = plugins::check_chain_plugins(
            cfg.plugin_dirs, cfg.plugins, cfg.plugin_config,
            cfg.hot_reload ? plugins::default_state_dir(cfg.checkpoint_dir, cfg.plugin_dirs)
                           : std::filesystem::path());
        for (const auto &note : check.notes)
            std::fprintf(stderr, "sluice run: note: %s\n", note.c_str());
        for (const auto &problem : check.problems)
            std::fprintf(stderr, "sluice run: %s\n", problem.c_str());
        if (!check.problems.empty()) return stream::kExitFailure;
        std::fputs(config::describe(cfg).c_str(), stdout);
        return stream::kExitOk;
    }
    setup_logging(cfg.log_level);
    for (const auto &warning : parsed.warnings) spdlog::warn("{}", warning);

    ShutdownController shutdown(cfg.shutdown_timeout);
    try {
        std::unique_ptr<kafka::MockCluster> embedded;
        std::string bootstrap = cfg.brokers;
        if (cfg.brokers.empty()) {  // --zookeeper without --brokers (config checks it)
            bootstrap = zk::discover_brokers({cfg.zookeeper, cfg.zookeeper_auth});
            spdlog::info("brokers from ZooKeeper {}: {}", cfg.zookeeper, bootstrap);
        } else if (cfg.brokers == "embedded") {
            embedded = std::make_unique<kafka::MockCluster>(cfg.embedded_brokers);
            // Names, not ^patterns: the configuration refuses those (config/validate.cpp).
            for (const auto &topic : cfg.topics)
                embedded->create_topic(topic, cfg.embedded_partitions);
            bootstrap = embedded->bootstrap_servers();
            spdlog::info(
                "embedded Kafka (librdkafka mock cluster) at {}; produce to it with: "
                "sluice produce --brokers {} --topic {} --count 1000",
                bootstrap, bootstrap, cfg.topics.front());
        }
        std::unique_ptr<stream::BatchSource> mode;
        if (cfg.mode == config::Mode::receiver)
            mode = std::make_unique<stream::ReceiverMode>();
        else if (cfg.group_assignment)
            mode = std::make_unique<stream::GroupDirectMode>();
        else
            mode = std::make_unique<stream::DirectMode>();
        stream::RunLoop loop(std::move(cfg), bootstrap, std::move(mode));
        return loop.run(shutdown.stop(), shutdown.abort());
    } catch (const std::exception &e) {
        spdlog::error("{}", e.what());
        return stream::kExitFailure;
    }
}

}  // namespace sluice::app
