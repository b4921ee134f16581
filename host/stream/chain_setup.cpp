#include "stream/chain_setup.hpp"

#include "isolation/worker_backend.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::stream {

std::unique_ptr<plugins::PluginChain> build_chain(const config::RunConfig &config) {
    // A plugin with isolation = process runs in a worker process (host/isolation).
    isolation::enable_process_isolation();
    plugins::PluginLoader loader(config.plugin_dirs);
    auto chain = std::make_unique<plugins::PluginChain>();
    // Hot reload: plugins run from private staged copies, and new versions are swapped in at
    // batch boundaries by the chain (see host/plugins/README.md).
    if (config.hot_reload) {
        plugins::ReloaderOptions reload;
        reload.poll_interval = config.hot_reload_poll;
        reload.canary_batches = static_cast<uint64_t>(config.canary_batches);
        reload.canary_partitions = static_cast<uint64_t>(config.canary_partitions);
        // What a restart must remember of refused versions lives with the job's checkpoint
        // (or in the user's state directory), never in the plugin directory.
        reload.state_dir = plugins::default_state_dir(config.checkpoint_dir, loader.dirs());
        chain->enable_hot_reload(loader, reload);
    }
    for (const auto &name : config.plugins) {
        auto library = chain->load(loader, name);
        std::map<std::string, std::string> plugin_config;
        if (auto it = config.plugin_config.find(name); it != config.plugin_config.end())
            plugin_config = it->second;
        chain->add(std::make_unique<plugins::PluginInstance>(std::move(library),
                                                             std::move(plugin_config)));
    }
    return chain;
}

}  // namespace sluice::stream
