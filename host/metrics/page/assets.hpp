#pragma once
// The files of the status page (index.html, app.js, app.css and the vendored uPlot), embedded
// in the binary at build time by embed.cmake from assets.list. Read-only data; any thread.

#include <span>
#include <string_view>

namespace sluice::metrics::page {

struct Asset {
    std::string_view url;   // the path it is served at ("/" for index.html)
    std::string_view file;  // its name under host/metrics/page (the extension gives its type)
    std::string_view body;
};

/// Every embedded file, in assets.list order.
std::span<const Asset> assets();

}  // namespace sluice::metrics::page
