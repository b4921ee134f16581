#pragma once
// Header-only C++ wrapper over the Sluice plugin C ABI (sluice.h).
//
// A plugin is one class plus one export macro:
//
//     class Upper {
//       public:
//         explicit Upper(sluice::Host &host);              // or a default constructor
//         sluice::Status process(const sluice::Batch &batch);  // may also return void
//     };
//     SLUICE_PLUGIN(Upper, "upper", "1.0.0", "Uppercases values", SLUICE_PLUGIN_TRANSFORM)
//
// (with or without a `;` after the macro).
//
// Optional members are found at compile time; only the ones the class has get a
// pointer in the descriptor, the others stay NULL (the host treats them as absent):
//
//     Status partitions_assigned(sluice::Span<const sluice::TopicPartition> partitions);
//     Status partitions_revoked(sluice::Span<const sluice::TopicPartition> partitions);
//     Status flush(const sluice::Batch &batch);
//     Status snapshot_state(sluice::StateWriter &out);
//     Status restore_state(std::string_view state);
//     Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
//                           sluice::Span<int64_t> offsets);  // pre-filled with -1
//     static std::vector<sluice::ConfigKey> config_keys();   // ABI 1.1: declares the keys
//
// config_keys() declares the keys of the plugin's [plugin.NAME] section (name, type,
// default, one line): the host then refuses any other key there, with "did you mean", and
// `sluice plugins DIR` lists them. It is called once, when the library is loaded.
//
// Each may return sluice::Status or void (= ok). To fail, return a status or throw:
// sluice::Retry, sluice::Skip and sluice::Fatal carry their status; any other exception
// is SLUICE_FATAL with its what(). No exception ever crosses the C ABI: every
// trampoline catches everything and writes the message into the host's error buffer.
//
// Every view (Batch, Record, Header, OffsetRange, TopicPartition, the string_views they
// return) points into host memory and is valid only during the call that received it.
//
// Host structs are read by their struct_size (copy min(struct_size, sizeof), zero-fill
// the rest), so a plugin built with this header works with older and newer hosts of
// the same ABI major.
//
// Requires C++17; with C++20, Span is std::span and the hooks are detected with
// requires-expressions.
//
// Include this header only. Its parts, each one job: sdk/types.hpp (statuses, exceptions,
// Span), sdk/views.hpp (Batch, Record and the other views), sdk/host.hpp (sluice::Host);
// this file adds the hook detection, the C trampolines and SLUICE_PLUGIN.

#include "sdk/host.hpp"

namespace sluice {
// The inline namespace keeps these names apart (in mangling) from the host's own
// sluice::TopicPartition etc.; plugin code just writes sluice::Batch.
inline namespace sdk {

namespace detail {

// Hook detection. The expressions are the same for C++20 (requires-expression) and
// C++17 (void_t); only declval appears, so one macro serves both.
#if SLUICE_SDK_CONCEPTS
#define SLUICE_SDK_DETECT(trait, ...)        \
    template <class T>                       \
    inline constexpr bool trait = requires { \
        __VA_ARGS__;                         \
    };
#else
#define SLUICE_SDK_DETECT(trait, ...)                                               \
    template <class T, class = void>                                                \
    struct trait##_impl : std::false_type {};                                       \
    template <class T>                                                              \
    struct trait##_impl<T, std::void_t<decltype(__VA_ARGS__)>> : std::true_type {}; \
    template <class T>                                                              \
    inline constexpr bool trait = trait##_impl<T>::value;
#endif

SLUICE_SDK_DETECT(has_process, std::declval<T &>().process(std::declval<const Batch &>()))
SLUICE_SDK_DETECT(has_partitions_assigned, std::declval<T &>().partitions_assigned(
                                               std::declval<Span<const TopicPartition>>()))
SLUICE_SDK_DETECT(has_partitions_revoked, std::declval<T &>().partitions_revoked(
                                              std::declval<Span<const TopicPartition>>()))
SLUICE_SDK_DETECT(has_flush, std::declval<T &>().flush(std::declval<const Batch &>()))
SLUICE_SDK_DETECT(has_snapshot_state,
                  std::declval<T &>().snapshot_state(std::declval<StateWriter &>()))
SLUICE_SDK_DETECT(has_restore_state,
                  std::declval<T &>().restore_state(std::declval<std::string_view>()))
SLUICE_SDK_DETECT(has_config_keys, T::config_keys())
SLUICE_SDK_DETECT(has_resume_offsets,
                  std::declval<T &>().resume_offsets(std::declval<Span<const TopicPartition>>(),
                                                     std::declval<Span<int64_t>>()))
#undef SLUICE_SDK_DETECT

/// Calls f(); a void result means ok.
template <class F>
Status as_status(F &&f) {
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        f();
        return Status::ok;
    } else {
        static_assert(std::is_same_v<R, Status>, "plugin hooks return sluice::Status or void");
        return f();
    }
}

/// Runs one plugin call; turns every exception into a status plus a message in the host's
/// buffer, and a bare non-ok status into a generic message.
template <class F>
int32_t guarded(const char *what, char *err, std::size_t err_size, F &&f) noexcept {
    if (err != nullptr && err_size > 0) err[0] = '\0';
    try {
        Status s = as_status(f);
        if (s != Status::ok && err != nullptr && err_size > 0 && err[0] == '\0') {
            write_error(err, err_size,
                        std::string(what) + " returned " + to_string(s) + " without a message");
        }
        return static_cast<int32_t>(s);
    } catch (const Error &e) {
        write_error(err, err_size, e.what());
        return e.status() == Status::ok ? SLUICE_FATAL : static_cast<int32_t>(e.status());
    } catch (const std::exception &e) {
        write_error(err, err_size, e.what());
        return SLUICE_FATAL;
    } catch (...) {
        write_error(err, err_size, std::string(what) + " threw an exception of unknown type");
        return SLUICE_FATAL;
    }
}

template <class T>
T construct(Host &host) {
    if constexpr (std::is_constructible_v<T, Host &>) {
        return T(host);
    } else {
        static_assert(std::is_default_constructible_v<T>,
                      "a plugin class needs a constructor taking sluice::Host& or a default one");
        return T();
    }
}

/// What the host's void* instance points to: the Host first, so it outlives the plugin.
template <class T>
struct Instance {
    Host host;
    T plugin;
    Instance(const sluice_host_api_t *api, sluice_host_ctx_t *ctx)
        : host(api, ctx), plugin(construct<T>(host)) {}
};

inline std::vector<TopicPartition> topic_partitions(const sluice_topic_partition_t *base,
                                                    std::size_t count, std::size_t stride) {
    std::vector<TopicPartition> out;
    if (base == nullptr) return out;
    out.reserve(count);
    for (TopicPartition tp :
         detail::StridedRange<sluice_topic_partition_t, TopicPartition>(base, count, stride)) {
        out.push_back(tp);
    }
    return out;
}

/// The C functions of the descriptor, one set per plugin class.
template <class T>
struct Trampolines {
    static T &plugin(void *instance) { return static_cast<Instance<T> *>(instance)->plugin; }

    /// Thread: control thread (a loader thread during hot reload).
    static int32_t create(const sluice_host_api_t *api, sluice_host_ctx_t *ctx, void **instance,
                          char *err, std::size_t err_size) noexcept {
        if (instance == nullptr) {
            write_error(err, err_size, "create: the host passed no instance pointer");
            return SLUICE_FATAL;
        }
        *instance = nullptr;
        return guarded("create", err, err_size, [&] { *instance = new Instance<T>(api, ctx); });
    }

    /// Thread: control thread, after the last call of any other function.
    static void destroy(void *instance) noexcept { delete static_cast<Instance<T> *>(instance); }

    /// Thread: batch thread.
    static int32_t process_batch(void *instance, const sluice_batch_t *batch, char *err,
                                 std::size_t err_size) noexcept {
        return guarded("process", err, err_size, [&] {
            const Batch b(batch);
            return plugin(instance).process(b);
        });
    }

    /// Thread: batch thread, between batches.
    static int32_t partitions_assigned(void *instance, const sluice_topic_partition_t *parts,
                                       std::size_t count, std::size_t stride, char *err,
                                       std::size_t err_size) noexcept {
        return guarded("partitions_assigned", err, err_size, [&] {
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).partitions_assigned(
                Span<const TopicPartition>(tps.data(), tps.size()));
        });
    }

    /// Thread: batch thread, between batches.
    static int32_t partitions_revoked(void *instance, const sluice_topic_partition_t *parts,
                                      std::size_t count, std::size_t stride, char *err,
                                      std::size_t err_size) noexcept {
        return guarded("partitions_revoked", err, err_size, [&] {
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).partitions_revoked(
                Span<const TopicPartition>(tps.data(), tps.size()));
        });
    }

    /// Thread: batch thread, before the host commits `batch`.
    static int32_t flush(void *instance, const sluice_batch_t *batch, char *err,
                         std::size_t err_size) noexcept {
        return guarded("flush", err, err_size, [&] {
            const Batch b(batch);
            return plugin(instance).flush(b);
        });
    }

    /// Thread: batch thread (hot reload hand-over).
    static int32_t snapshot_state(void *instance, sluice_state_writer_fn write, void *sink,
                                  char *err, std::size_t err_size) noexcept {
        return guarded("snapshot_state", err, err_size, [&] {
            StateWriter w(write, sink);
            return plugin(instance).snapshot_state(w);
        });
    }

    /// Thread: batch thread, at the swap of a hot reload.
    static int32_t restore_state(void *instance, const void *data, std::size_t len, char *err,
                                 std::size_t err_size) noexcept {
        return guarded("restore_state", err, err_size, [&] {
            std::string_view state =
                data ? std::string_view(static_cast<const char *>(data), len) : std::string_view();
            return plugin(instance).restore_state(state);
        });
    }

    /// Thread: control thread, before the first batch.
    static int32_t resume_offsets(void *instance, const sluice_topic_partition_t *parts,
                                  std::size_t count, std::size_t stride, int64_t *offsets,
                                  char *err, std::size_t err_size) noexcept {
        return guarded("resume_offsets", err, err_size, [&] {
            if (offsets == nullptr && count > 0) {
                throw Fatal("resume_offsets: the host passed no offsets array");
            }
            for (std::size_t i = 0; i < count; ++i) offsets[i] = -1;
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).resume_offsets(
                Span<const TopicPartition>(tps.data(), tps.size()), Span<int64_t>(offsets, count));
        });
    }
};

/// The C array of T::config_keys(), built once and kept for the life of the library (the
/// descriptor points into it). Thread: the entry function's, once.
template <class T>
struct ConfigKeyTable {
    std::vector<ConfigKey> keys;
    std::vector<sluice_config_key_t> c;

    ConfigKeyTable() {
        for (const ConfigKey &k : T::config_keys()) keys.push_back(k);
        c.reserve(keys.size());
        for (const ConfigKey &k : keys) {
            sluice_config_key_t ck;
            std::memset(&ck, 0, sizeof ck);
            ck.struct_size = sizeof ck;
            ck.name = k.name.c_str();
            ck.type = static_cast<int32_t>(k.type);
            ck.default_value = k.default_value ? k.default_value->c_str() : nullptr;
            ck.description = k.description.c_str();
            c.push_back(ck);
        }
    }
};

/// Builds the static descriptor of plugin class T: optional pointers only for the hooks
/// T has. Thread: the entry function's (control or loader thread), once.
template <class T>
sluice_plugin_t make_descriptor(const char *name, const char *version, const char *description,
                                uint32_t flags) noexcept {
    static_assert(has_process<T>,
                  "a Sluice plugin class needs `sluice::Status process(const sluice::Batch &)`");
    sluice_plugin_t d;
    std::memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.abi_major = SLUICE_ABI_MAJOR;
    d.abi_minor = SLUICE_ABI_MINOR;
    d.name = name;
    d.version = version;
    d.description = description;
    d.flags = flags;
    d.create = &Trampolines<T>::create;
    d.destroy = &Trampolines<T>::destroy;
    d.process_batch = &Trampolines<T>::process_batch;
    if constexpr (has_partitions_assigned<T>) {
        d.partitions_assigned = &Trampolines<T>::partitions_assigned;
    }
    if constexpr (has_partitions_revoked<T>) {
        d.partitions_revoked = &Trampolines<T>::partitions_revoked;
    }
    if constexpr (has_flush<T>) d.flush = &Trampolines<T>::flush;
    if constexpr (has_snapshot_state<T>) d.snapshot_state = &Trampolines<T>::snapshot_state;
    if constexpr (has_restore_state<T>) d.restore_state = &Trampolines<T>::restore_state;
    if constexpr (has_resume_offsets<T>) d.resume_offsets = &Trampolines<T>::resume_offsets;
    if constexpr (has_config_keys<T>) {
        try {
            static const ConfigKeyTable<T> table;
            // Non-NULL even when empty: an empty list declares "no keys".
            static const sluice_config_key_t none{};
            d.config_keys = table.c.empty() ? &none : table.c.data();
            d.config_key_count = table.c.size();
            d.config_key_stride = sizeof(sluice_config_key_t);
        } catch (...) {
            // Out of memory at load: leave the keys undeclared (checked by the plugin alone).
        }
    }
    return d;
}

}  // namespace detail
}  // namespace sdk
}  // namespace sluice

/// Exports plugin class `Class` as the library's one entry symbol (sluice_plugin_entry).
/// Use once per shared library, at namespace scope, with or without a `;` after it (it ends
/// in a function body, so a `;` is an empty declaration). The descriptor is returned
/// whatever the host's version: the host compares versions and refuses with a message naming
/// both. Thread: control or loader thread, once per loaded library.
#define SLUICE_PLUGIN(Class, name, version, description, flags)                                    \
    extern "C" SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t host_abi_major,   \
                                                                        uint32_t host_abi_minor) { \
        static_assert(std::is_same_v<decltype(&sluice_plugin_entry), sluice_plugin_entry_fn>,      \
                      "sluice_plugin_entry does not match sluice_plugin_entry_fn");                \
        (void)host_abi_major;                                                                      \
        (void)host_abi_minor;                                                                      \
        static const sluice_plugin_t descriptor =                                                  \
            ::sluice::detail::make_descriptor<Class>(name, version, description, flags);           \
        return &descriptor;                                                                        \
    }
