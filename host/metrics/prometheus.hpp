#pragma once
// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), and the rendering of a
// RunSnapshot in it.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/histogram.hpp"
#include "metrics/snapshot.hpp"

namespace sluice::metrics {

/// The Content-Type of the text format.
inline constexpr const char *kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A label value between double quotes: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);
/// A HELP text: backslash and line feed escaped (quotes stay as they are).
std::string escape_help(std::string_view text);
/// A sample value: integers without exponent or fraction (exact up to 2^53), others with
/// enough digits to round-trip; NaN, +Inf, -Inf spelled as Prometheus reads them.
std::string format_value(double value);
/// Whether `name` is a legal metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*; labels no ':').
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

/// Builds one exposition: each family's HELP and TYPE once, then its samples. Families must
/// not be interleaved (the format requires a family's samples to be together), so write all
/// samples of a family right after its family() call. Not thread-safe; a local value.
class TextWriter {
  public:
    enum class Type { counter, gauge, histogram, untyped };

    /// Starts a family. Throws std::invalid_argument for an illegal name.
    void family(std::string_view name, Type type, std::string_view help);
    /// One sample of the current family (`name` must be the family's). Throws
    /// std::invalid_argument for an illegal label name or a sample outside its family.
    void sample(std::string_view name, const Labels &labels, double value);
    void sample(std::string_view name, double value) { sample(name, {}, value); }
    /// A histogram family's samples for one label set: NAME_bucket{le=...} (cumulative, up
    /// to +Inf), NAME_sum and NAME_count.
    void histogram(std::string_view name, const Labels &labels, const Histogram &h);

    const std::string &text() const { return out_; }

  private:
    std::string out_;
    std::string family_;
};

/// The whole /metrics body for `snapshot`; the names are documented in docs/metrics.md. The lag
/// is computed at `now_ms` (Unix ms; the one-argument form: now).
std::string render_prometheus(const RunSnapshot &snapshot, int64_t now_ms);
std::string render_prometheus(const RunSnapshot &snapshot);

}  // namespace sluice::metrics
