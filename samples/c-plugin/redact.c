/* redact: a Sluice transform plugin in plain C11, against the C ABI of sluice/sluice.h alone (no
 * C++ anywhere). It passes every record on with each digit of its value replaced by a mask
 * character ([plugin.redact] mask, default '#'), so card and phone numbers do not reach the next
 * plugin, and counts the digits it masked. It shows what a C plugin provides:
 *
 *   - the one export, sluice_plugin_entry, returning a static descriptor (struct_size first,
 *     the ABI version it was built against, the functions it has; NULL = absent);
 *   - create / destroy / process_batch (required), with errors written into the host's buffer;
 *   - snapshot_state / restore_state (optional: hot-reload hand-over of the running count);
 *   - config_keys (ABI 1.1: the keys of its section, so the host refuses misspelt ones);
 *   - the host API: config_get, log, metric, emit (the host copies what is emitted);
 *   - reading arrays by their stride and records and headers by their struct_size.
 *
 * Threads: create and destroy run on the host's control thread (or its hot reloader's); the
 * other functions on the batch thread, never two at once for one instance.
 */
#include <sluice/sluice.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct redact {
    const sluice_host_api_t *host; /* host-owned, valid until destroy */
    sluice_host_ctx_t *ctx;
    char mask;
    uint64_t masked; /* digits masked since the first generation (handed over on reload) */
    char *buffer;    /* the masked copy of one value, reused */
    size_t capacity;
} redact_t;

/* snprintf into the host's error buffer (always NUL-terminated by snprintf). */
static void set_error(char *err, size_t err_size, const char *message) {
    if (err != NULL && err_size > 0) snprintf(err, err_size, "%s", message);
}

/* Element i of a strided array of structs. */
static const void *at(const void *base, size_t i, size_t stride) {
    return (const char *)base + i * stride;
}

/* A record as this plugin knows it: min(struct_size, sizeof) bytes, the rest zero. A host built
 * against a newer header may pass bigger records; an older one, smaller. */
static sluice_record_t read_record(const sluice_record_t *in) {
    sluice_record_t r;
    memset(&r, 0, sizeof r);
    memcpy(&r, in, in->struct_size < sizeof r ? in->struct_size : sizeof r);
    return r;
}

static int32_t redact_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                             char *err, size_t err_size) {
    const char *mask = host->config_get(ctx, "mask");
    if (mask != NULL && strlen(mask) != 1) {
        set_error(err, err_size,
                  "redact: [plugin.redact] mask must be one character, e.g. mask = *");
        return SLUICE_FATAL;
    }
    redact_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        set_error(err, err_size, "redact: out of memory");
        return SLUICE_FATAL;
    }
    r->host = host;
    r->ctx = ctx;
    r->mask = mask != NULL ? mask[0] : '#';
    char line[64];
    snprintf(line, sizeof line, "masking digits with '%c'", r->mask);
    host->log(ctx, SLUICE_LOG_INFO, line);
    *instance = r;
    return SLUICE_OK;
}

static void redact_destroy(void *instance) {
    redact_t *r = instance;
    free(r->buffer);
    free(r);
}

static int32_t redact_process(void *instance, const sluice_batch_t *batch, char *err,
                              size_t err_size) {
    redact_t *r = instance;
    uint64_t masked = 0;
    for (size_t i = 0; i < batch->record_count; ++i) {
        sluice_record_t rec = read_record(at(batch->records, i, batch->record_stride));
        if (rec.value != NULL && rec.value_len > 0) {
            if (rec.value_len > r->capacity) {
                char *bigger = realloc(r->buffer, rec.value_len);
                if (bigger == NULL) {
                    set_error(err, err_size, "redact: out of memory copying a value");
                    return SLUICE_RETRY;
                }
                r->buffer = bigger;
                r->capacity = rec.value_len;
            }
            const char *in = rec.value;
            for (size_t k = 0; k < rec.value_len; ++k) {
                const int digit = in[k] >= '0' && in[k] <= '9';
                r->buffer[k] = digit ? r->mask : in[k];
                masked += (uint64_t)digit;
            }
            rec.value = r->buffer; /* the host copies the record during emit */
        }
        /* Key, headers (read by the host through header_stride), topic, partition, offset and
         * timestamp pass on unchanged; a null value stays null, an empty one empty. */
        rec.struct_size = sizeof rec;
        if (r->host->emit(r->ctx, &rec) != SLUICE_OK) {
            set_error(err, err_size, "redact: the host refused an emitted record");
            return SLUICE_FATAL;
        }
    }
    r->masked += masked;
    r->host->metric(r->ctx, "digits_masked", SLUICE_METRIC_COUNTER, (double)masked);
    return SLUICE_OK;
}

/* Hot reload: the old generation writes its count as text, the new one reads it. */
static int32_t redact_snapshot(void *instance, sluice_state_writer_fn write, void *sink, char *err,
                               size_t err_size) {
    (void)err;
    (void)err_size;
    const redact_t *r = instance;
    char text[32];
    const int n = snprintf(text, sizeof text, "%llu", (unsigned long long)r->masked);
    write(sink, text, (size_t)n);
    return SLUICE_OK;
}

static int32_t redact_restore(void *instance, const void *data, size_t len, char *err,
                              size_t err_size) {
    redact_t *r = instance;
    char text[32];
    if (len == 0 || len >= sizeof text) {
        set_error(err, err_size, "redact: the previous generation's state is not a count");
        return SLUICE_FATAL;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    char *end = NULL;
    const unsigned long long n = strtoull(text, &end, 10);
    if (end != text + len) {
        set_error(err, err_size, "redact: the previous generation's state is not a count");
        return SLUICE_FATAL;
    }
    r->masked = n;
    return SLUICE_OK;
}

/* ABI 1.1: the keys of [plugin.redact]; the host refuses any other (besides its own). */
static const sluice_config_key_t config_keys[] = {
    {sizeof(sluice_config_key_t), "mask", SLUICE_CONFIG_STRING, "#",
     "the character that replaces each digit of a value"},
};

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "redact",
    .version = "1.0.0",
    .description = "Masks the digits of every value (a transform written in C)",
    .flags = SLUICE_PLUGIN_TRANSFORM,
    .create = redact_create,
    .destroy = redact_destroy,
    .process_batch = redact_process,
    .snapshot_state = redact_snapshot,
    .restore_state = redact_restore,
    .config_keys = config_keys,
    .config_key_count = sizeof config_keys / sizeof config_keys[0],
    .config_key_stride = sizeof(sluice_config_key_t),
};

/* The one exported symbol. The host passes its ABI version; returning the descriptor lets the
 * host check ours (same major, a minor no newer than its own) and refuse with both named. */
SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t host_abi_major,
                                                         uint32_t host_abi_minor) {
    (void)host_abi_major;
    (void)host_abi_minor;
    return &descriptor;
}
