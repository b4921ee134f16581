#pragma once
// Part of the C++ SDK (sluice/plugin.hpp includes every part; include that one).
// Statuses, log levels, config key declarations, the exceptions that carry a status, Span.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../sluice.h"

#if __has_include(<version>)
#include <version>
#endif
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#define SLUICE_SDK_STD_SPAN 1
#else
#define SLUICE_SDK_STD_SPAN 0
#endif
#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
#define SLUICE_SDK_CONCEPTS 1
#else
#define SLUICE_SDK_CONCEPTS 0
#endif

#if __cplusplus < 201703L
#error "sluice/plugin.hpp needs C++17 or later"
#endif

namespace sluice {
// The inline namespace keeps these names apart (in mangling) from the host's own
// sluice::TopicPartition etc.; plugin code just writes sluice::Batch.
inline namespace sdk {

/// What a plugin function returns (values are sluice_status_t).
enum class Status : int32_t {
    ok = SLUICE_OK,
    retry = SLUICE_RETRY,  ///< transient: the host may call again with the same batch
    skip = SLUICE_SKIP,    ///< give up on this batch but keep running
    fatal = SLUICE_FATAL,  ///< the host stops without committing the batch
};

enum class LogLevel : int32_t {
    trace = SLUICE_LOG_TRACE,
    debug = SLUICE_LOG_DEBUG,
    info = SLUICE_LOG_INFO,
    warn = SLUICE_LOG_WARN,
    error = SLUICE_LOG_ERROR,
};

/// The type of a declared config key (shown to users; the plugin still parses the value).
enum class ConfigType : int32_t {
    string = SLUICE_CONFIG_STRING,
    integer = SLUICE_CONFIG_INT,
    number = SLUICE_CONFIG_NUMBER,
    boolean = SLUICE_CONFIG_BOOL,
    path = SLUICE_CONFIG_PATH,
};

/// One key of the plugin's [plugin.NAME] section, as returned by a plugin class's static
/// config_keys(): {"output", sluice::ConfigType::path, std::nullopt, "append here"}.
struct ConfigKey {
    std::string name;
    ConfigType type = ConfigType::string;
    std::optional<std::string> default_value;  ///< as the user would write it; nullopt = none
    std::string description;                   ///< one line
};

enum class TimestampType : int32_t {
    not_available = SLUICE_TIMESTAMP_NOT_AVAILABLE,
    create_time = SLUICE_TIMESTAMP_CREATE_TIME,
    log_append_time = SLUICE_TIMESTAMP_LOG_APPEND_TIME,
};

inline const char *to_string(Status status) noexcept {
    switch (status) {
        case Status::ok:
            return "ok";
        case Status::retry:
            return "retry";
        case Status::skip:
            return "skip";
        case Status::fatal:
            return "fatal";
    }
    return "fatal";
}

/// An exception that carries the status the host gets. Thrown by plugin code (any
/// thread that runs plugin code), caught by the trampolines.
class Error : public std::runtime_error {
  public:
    Error(Status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    Status status() const noexcept { return status_; }

  private:
    Status status_;
};

/// Transient failure: the host may call again with the same batch.
class Retry : public Error {
  public:
    explicit Retry(const std::string &message) : Error(Status::retry, message) {}
};

/// Give up on this batch, keep running (the host's policy decides).
class Skip : public Error {
  public:
    explicit Skip(const std::string &message) : Error(Status::skip, message) {}
};

/// Unrecoverable: the host stops without committing the batch.
class Fatal : public Error {
  public:
    explicit Fatal(const std::string &message) : Error(Status::fatal, message) {}
};

#if SLUICE_SDK_STD_SPAN
template <class T>
using Span = std::span<T>;
#else
/// Minimal std::span stand-in for C++17 builds (contiguous, non-owning).
template <class T>
class Span {
  public:
    constexpr Span() noexcept = default;
    constexpr Span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class C, class = decltype(std::declval<C &>().data())>
    constexpr Span(C &c) noexcept : data_(c.data()), size_(c.size()) {}
    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }

  private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};
#endif

}  // namespace sdk
}  // namespace sluice
