/* Test transform for canary generations, one source, several builds (TAGGER_MODE):
 *   1 "v1"      emits every record unchanged with a header tag=t
 *   2 "same"    the same output (another version)
 *   3 "differs" emits "X" where the value is "x"
 *   4 "error"   returns SLUICE_FATAL at a record whose value is "boom"
 *   5 "sink"    like 1 but without SLUICE_PLUGIN_TRANSFORM
 * Every build keeps a count of the records it saw and hands it over (snapshot/restore). */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TAGGER_MODE
#define TAGGER_MODE 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct tagger {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
    unsigned long long seen;
} tagger_t;

static int32_t tg_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                         char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    tagger_t *t = calloc(1, sizeof *t);
    t->host = host;
    t->ctx = ctx;
    *instance = t;
    return SLUICE_OK;
}

static void tg_destroy(void *instance) {
    free(instance);
}

static int value_is(const sluice_record_t *r, const char *text) {
    return r->value != NULL && r->value_len == strlen(text) &&
           memcmp(r->value, text, r->value_len) == 0;
}

static int32_t tg_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    tagger_t *t = instance;
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *in =
            (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
        ++t->seen;
        if (TAGGER_MODE == 4 && value_is(in, "boom")) {
            snprintf(err, err_size, "cannot tag offset %lld", (long long)in->offset);
            return SLUICE_FATAL;
        }
        sluice_record_t out = *in;
        if (TAGGER_MODE == 3 && value_is(in, "x")) {
            out.value = "X";
            out.value_len = 1;
        }
        sluice_header_t tag = {sizeof tag, "tag", "t", 1};
        out.headers = &tag;
        out.header_count = 1;
        out.header_stride = sizeof tag;
        int32_t rc = t->host->emit(t->ctx, &out);
        if (rc != SLUICE_OK) return rc;
    }
    return SLUICE_OK;
}

static int32_t tg_snapshot(void *instance, sluice_state_writer_fn write, void *sink, char *err,
                           size_t err_size) {
    (void)err;
    (void)err_size;
    tagger_t *t = instance;
    write(sink, &t->seen, sizeof t->seen);
    return SLUICE_OK;
}

static int32_t tg_restore(void *instance, const void *data, size_t len, char *err,
                          size_t err_size) {
    tagger_t *t = instance;
    if (len != sizeof t->seen) {
        snprintf(err, err_size, "state of %zu bytes", len);
        return SLUICE_FATAL;
    }
    memcpy(&t->seen, data, sizeof t->seen);
    char line[64];
    snprintf(line, sizeof line, "took over %llu records", t->seen);
    t->host->log(t->ctx, SLUICE_LOG_INFO, line);
    return SLUICE_OK;
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "tagger",
    .version = STR(TAGGER_MODE),
    .description = "tags records (canary tests)",
    .flags = TAGGER_MODE == 5 ? 0u : SLUICE_PLUGIN_TRANSFORM,
    .create = tg_create,
    .destroy = tg_destroy,
    .process_batch = tg_process,
    .snapshot_state = tg_snapshot,
    .restore_state = tg_restore,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
    return &descriptor;
}
