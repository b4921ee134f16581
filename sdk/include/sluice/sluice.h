/*
 * Sluice plugin ABI, version 1 (minor 1).
 *
 * This is the only contract between the Sluice host and a plugin. It is plain
 * C: no C++ type, exception, librdkafka type or allocator crosses it.
 *
 * Rules that keep it stable:
 *  - Every struct starts with `struct_size` and only ever grows at the end.
 *    A reader copies min(struct_size, sizeof(its own struct)) bytes and
 *    zero-fills the rest, so an older or newer peer is read safely. A NULL
 *    function pointer (or one past the writer's struct_size) means "absent".
 *  - Arrays of structs carry a stride: element i is at base + i * stride.
 *  - Errors are sluice_status_t return codes; the text goes into a buffer the
 *    host owns (`err`, `err_size`), always NUL-terminated by the writer.
 *  - Pointers handed to a plugin are views: valid only during the call that
 *    received them unless the comment says otherwise. Copy what you keep.
 *  - Members added after ABI 1.0 are marked with the minor that added them
 *    (`ABI 1.N and later`): a peer built against an older header lacks them.
 *
 * Threading: the host never calls two functions of one plugin instance at
 * once. Most run on the batch thread; create, destroy and resume_offsets run
 * on the control thread (create and destroy also on the hot reloader's
 * thread): each member below names its thread. Of the host API, log and
 * config_get may be called from any thread while the instance lives; metric
 * and emit only on the batch thread, inside a call the host made (emit only
 * inside process_batch).
 *
 * Lifecycle of an instance:
 *   sluice_plugin_entry (negotiate, once per loaded library)
 *   -> create(config)
 *   -> [partitions_assigned]
 *   -> process_batch ... (-> flush before each commit)
 *   -> [partitions_revoked]
 *   -> destroy
 * Hot reload adds: old.snapshot_state -> new.restore_state before the swap.
 */
#ifndef SLUICE_SLUICE_H
#define SLUICE_SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version. A host accepts a plugin with the same major and a minor no
 *  newer than its own; anything else is refused, naming both versions. */
#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 1

/** Name of the one symbol every plugin exports (see sluice_plugin_entry_fn). */
#define SLUICE_PLUGIN_ENTRY_SYMBOL "sluice_plugin_entry"

#if defined(__GNUC__)
#define SLUICE_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_EXPORT
#endif

/** Return codes. Any value not listed here is treated as SLUICE_FATAL. */
typedef enum sluice_status {
    SLUICE_OK = 0,    /**< success */
    SLUICE_RETRY = 1, /**< transient failure: the host may call again with the same batch */
    SLUICE_SKIP = 2,  /**< give up on this batch but keep running (policy decides) */
    SLUICE_FATAL = 3  /**< unrecoverable: the host stops without committing the batch */
} sluice_status_t;

/** Log levels for sluice_host_api_t.log (same order as spdlog's). */
typedef enum sluice_log_level {
    SLUICE_LOG_TRACE = 0,
    SLUICE_LOG_DEBUG = 1,
    SLUICE_LOG_INFO = 2,
    SLUICE_LOG_WARN = 3,
    SLUICE_LOG_ERROR = 4
} sluice_log_level_t;

/** Kafka timestamp types (values match librdkafka's). */
typedef enum sluice_timestamp_type {
    SLUICE_TIMESTAMP_NOT_AVAILABLE = 0,
    SLUICE_TIMESTAMP_CREATE_TIME = 1,
    SLUICE_TIMESTAMP_LOG_APPEND_TIME = 2
} sluice_timestamp_type_t;

/** Metric kinds for sluice_host_api_t.metric. */
typedef enum sluice_metric_kind {
    SLUICE_METRIC_COUNTER = 0, /**< value is added to the running total */
    SLUICE_METRIC_GAUGE = 1    /**< value replaces the previous one */
} sluice_metric_kind_t;

/** One record header. `value == NULL` is a null header value; an empty value
 *  has a non-NULL pointer and value_len 0. `name` is NUL-terminated. */
typedef struct sluice_header {
    uint32_t struct_size;
    const char *name;
    const void *value;
    size_t value_len;
} sluice_header_t;

/** One Kafka record, as a view into host-owned memory valid only during the
 *  call that received it.
 *  key/value: NULL pointer = null; non-NULL pointer with length 0 = empty. */
typedef struct sluice_record {
    uint32_t struct_size;
    const char *topic; /**< NUL-terminated topic name */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;   /**< -1 when not available */
    int32_t timestamp_type; /**< sluice_timestamp_type_t */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const sluice_header_t *headers; /**< header_count elements, header_stride apart */
    size_t header_count;
    size_t header_stride;
} sluice_record_t;

/** A topic-partition, used by the assignment hooks. */
typedef struct sluice_topic_partition {
    uint32_t struct_size;
    const char *topic;
    int32_t partition;
} sluice_topic_partition_t;

/** What a batch covers for one partition: offsets in [from_offset, until_offset).
 *  until_offset is the next offset to read (Kafka's committed-offset
 *  convention). A range may hold fewer records than until - from (compacted
 *  topics, transaction markers). */
typedef struct sluice_offset_range {
    uint32_t struct_size;
    const char *topic;
    int32_t partition;
    int64_t from_offset;  /**< inclusive */
    int64_t until_offset; /**< exclusive */
} sluice_offset_range_t;

/** Batch flags. */
#define SLUICE_BATCH_REPLAY 0x1u /**< re-delivery of a batch seen before a crash or failure */

/** One micro-batch. Everything it points to is host-owned and valid only
 *  during the call that received it. In a chain, the ranges are those of the
 *  source batch; the records are what the previous plugin passed on. */
typedef struct sluice_batch {
    uint32_t struct_size;
    /** Increases by one per batch. A batch re-delivered after a crash or a
     *  failure (SLUICE_BATCH_REPLAY) has the same id, batch_time_ms and ranges
     *  as before when the run keeps durable state: a checkpoint in direct
     *  mode, a wal-dir in receiver mode (there the same records too; blocks no
     *  batch had taken yet are replayed under new ids). Without that state
     *  (direct mode without --checkpoint, receiver mode without --wal-dir) ids
     *  start at 0 at every start, so across restarts one id can name different
     *  records. */
    int64_t batch_id;
    int64_t batch_time_ms; /**< the batch's scheduled time (Unix ms), stable across replay */
    uint32_t flags;        /**< SLUICE_BATCH_* */
    const sluice_offset_range_t *ranges;
    size_t range_count;
    size_t range_stride;
    const sluice_record_t *records;
    size_t record_count;
    size_t record_stride;
} sluice_batch_t;

/** Opaque per-instance handle the host passes to its API functions. */
typedef struct sluice_host_ctx sluice_host_ctx_t;

/** Functions the host offers to a plugin. Host-owned; valid from create until
 *  destroy returns. Only grows at the end: check struct_size (or use the C++
 *  SDK, which does) before calling a member added after ABI 1.0. */
typedef struct sluice_host_api {
    uint32_t struct_size;
    uint32_t abi_major; /**< the host's ABI version */
    uint32_t abi_minor;

    /** Writes one log line through the host's logger, tagged with the plugin
     *  name. `message` is copied. Thread: any thread (the logger is
     *  thread-safe), but ctx must be alive. */
    void (*log)(sluice_host_ctx_t *ctx, int32_t level, const char *message);

    /** Looks up `key` in the plugin's own config section ([plugin.NAME]).
     *  Returns NULL when absent. The string is host-owned and valid until
     *  destroy. Thread: any. */
    const char *(*config_get)(sluice_host_ctx_t *ctx, const char *key);

    /** Records a metric named `name` (copied) for this plugin. Thread: batch thread. */
    void (*metric)(sluice_host_ctx_t *ctx, const char *name, int32_t kind, double value);

    /** Passes a record downstream to the next plugin of the chain (for plugins
     *  that declare SLUICE_PLUGIN_TRANSFORM). The host copies the record, so
     *  it may point into the plugin's own temporary memory. Returns
     *  SLUICE_OK, or SLUICE_FATAL if called outside process_batch.
     *  Thread: batch thread, only inside process_batch. */
    int32_t (*emit)(sluice_host_ctx_t *ctx, const sluice_record_t *record);
} sluice_host_api_t;

/** Plugin flags. */
/* clang-format off */
#define SLUICE_PLUGIN_TRANSFORM 0x1u           /**< downstream sees only emitted records (else: the input) */
#define SLUICE_PLUGIN_WANTS_EMPTY_BATCHES 0x2u /**< also call process_batch for batches with no records */
/* clang-format on */

/** Value types of a declared config key (sluice_config_key_t.type). The host
 *  shows them in `sluice plugins DIR`; the plugin still parses the value.
 *  ABI 1.1 and later. */
typedef enum sluice_config_type {
    SLUICE_CONFIG_STRING = 0,
    SLUICE_CONFIG_INT = 1,    /**< a whole number */
    SLUICE_CONFIG_NUMBER = 2, /**< a decimal number */
    SLUICE_CONFIG_BOOL = 3,   /**< true/false */
    SLUICE_CONFIG_PATH = 4    /**< a file or directory */
} sluice_config_type_t;

/** One key a plugin reads from its [plugin.NAME] section. Plugin-owned,
 *  static. ABI 1.1 and later. */
typedef struct sluice_config_key {
    uint32_t struct_size;
    const char *name;          /**< the key as written in the section, e.g. "output" */
    int32_t type;              /**< sluice_config_type_t */
    const char *default_value; /**< as the user would write it; NULL = no default */
    const char *description;   /**< one line */
} sluice_config_key_t;

/** Callback a plugin uses to write its state in snapshot_state: `data` is copied.
 *  Host-owned (with `sink`). Thread: the batch thread, only during snapshot_state. */
typedef void (*sluice_state_writer_fn)(void *sink, const void *data, size_t len);

/** What a plugin exports, returned by its entry function. Plugin-owned, static:
 *  valid as long as the library is loaded. Optional members may be NULL or
 *  lie beyond struct_size. Each `err` buffer is host-owned, err_size bytes. */
typedef struct sluice_plugin {
    uint32_t struct_size;
    uint32_t abi_major; /**< the ABI the plugin was built against */
    uint32_t abi_minor;
    const char *name;        /**< short name, e.g. "file-sink" */
    const char *version;     /**< the plugin's own version string */
    const char *description; /**< one line */
    uint32_t flags;          /**< SLUICE_PLUGIN_* */

    /* ---- required ---- */

    /** Creates an instance. `host` and `ctx` stay valid until destroy. On
     *  success stores the instance in *instance and returns SLUICE_OK; on
     *  failure writes a message into err. Thread: the host's control thread
     *  (a loader thread during hot reload): not necessarily the batch thread. */
    int32_t (*create)(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                      char *err, size_t err_size);

    /** Destroys an instance; must join any thread the plugin started.
     *  Thread: control thread (the reloader's thread for a generation retired
     *  by hot reload), after the last call of any other function. */
    void (*destroy)(void *instance);

    /** Processes one batch. Thread: batch thread. */
    int32_t (*process_batch)(void *instance, const sluice_batch_t *batch, char *err,
                             size_t err_size);

    /* ---- optional ---- */

    /** Partitions newly assigned to this host (array of count, stride apart,
     *  valid during the call). Thread: batch thread, between batches. */
    int32_t (*partitions_assigned)(void *instance, const sluice_topic_partition_t *partitions,
                                   size_t count, size_t stride, char *err, size_t err_size);

    /** Partitions taken away. Thread: batch thread, between batches. */
    int32_t (*partitions_revoked)(void *instance, const sluice_topic_partition_t *partitions,
                                  size_t count, size_t stride, char *err, size_t err_size);

    /** Makes the effects of every batch processed so far durable; called
     *  before the host commits `batch`. Thread: batch thread. */
    int32_t (*flush)(void *instance, const sluice_batch_t *batch, char *err, size_t err_size);

    /** Writes the instance's state through write(sink, data, len), any number
     *  of times (hot reload hand-over). Thread: batch thread. */
    int32_t (*snapshot_state)(void *instance, sluice_state_writer_fn write, void *sink, char *err,
                              size_t err_size);

    /** Restores state written by snapshot_state of an earlier generation of
     *  the same plugin (data valid during the call). Thread: batch thread, at
     *  the batch boundary where the new generation is swapped in. */
    int32_t (*restore_state)(void *instance, const void *data, size_t len, char *err,
                             size_t err_size);

    /** For plugins that store their own offsets: fills offsets[i] with the next
     *  offset to read for partitions[i], or -1 when it has none. Used when the
     *  host has no checkpoint. Thread: control thread, before the first batch. */
    int32_t (*resume_offsets)(void *instance, const sluice_topic_partition_t *partitions,
                              size_t count, size_t stride, int64_t *offsets, char *err,
                              size_t err_size);

    /* ---- ABI 1.1 and later ---- */

    /** The keys the plugin reads from its [plugin.NAME] section: config_key_count
     *  elements, config_key_stride apart, static like the descriptor. When
     *  config_keys is non-NULL the plugin declares its keys: any other key in
     *  its section (besides the host's own: on-error, max-retries,
     *  retry-backoff, dead-letter-topic) is a configuration error, and
     *  `sluice plugins DIR` lists them. NULL (or a pre-1.1 plugin): any key is
     *  passed to the plugin unchecked. Read by the host on the control or
     *  loader thread, before create. */
    const sluice_config_key_t *config_keys;
    size_t config_key_count;
    size_t config_key_stride;
} sluice_plugin_t;

/** The entry function, exported as SLUICE_PLUGIN_ENTRY_SYMBOL. The host passes
 *  its ABI version; the plugin returns its descriptor (whose abi_major and
 *  abi_minor the host checks), or NULL to refuse that host. Called once per
 *  loaded library. Thread: the control thread, or the loader thread of a hot
 *  reload. */
typedef const sluice_plugin_t *(*sluice_plugin_entry_fn)(uint32_t host_abi_major,
                                                         uint32_t host_abi_minor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLUICE_SLUICE_H */
