/* Test sink for hot reload, built several times from this one source. VERSION (a number) tags
 * everything it writes; BROKEN selects a broken build:
 *   1 = fails every process_batch (fatal)    2 = create fails
 *   3 = built for ABI major + 1              4 = no entry symbol exported
 * Config: "log" = a file that gets one line per call ("v<V> batch <id> records <n> seen <s>",
 * "v<V> create", "v<V> destroy", "v<V> restore <state>", "v<V> assigned <n>");
 * "out_dir" = a directory that gets, per batch, b<id>.txt written atomically (temp + rename,
 * so a redelivered batch replaces its file): one "partition offset v<V>" line per record.
 * State for the hand-over: the number of records seen. */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VERSION
#define VERSION 1
#endif
#ifndef BROKEN
#define BROKEN 0
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct versioned {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
    const char *log;
    const char *out_dir;
    unsigned long long seen;
} versioned_t;

static void log_line(const versioned_t *v, const char *line) {
    if (v->log == NULL) return;
    FILE *f = fopen(v->log, "a");
    if (f == NULL) return;
    fprintf(f, "v%d %s\n", VERSION, line);
    fclose(f);
}

static int32_t v_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                        char *err, size_t err_size) {
    if (BROKEN == 2) {
        snprintf(err, err_size, "v%d refuses to start", VERSION);
        return SLUICE_FATAL;
    }
    versioned_t *v = calloc(1, sizeof *v);
    v->host = host;
    v->ctx = ctx;
    v->log = host->config_get(ctx, "log");
    v->out_dir = host->config_get(ctx, "out_dir");
    log_line(v, "create");
    *instance = v;
    return SLUICE_OK;
}

static void v_destroy(void *instance) {
    versioned_t *v = instance;
    log_line(v, "destroy");
    free(v);
}

static int write_batch_file(const versioned_t *v, const sluice_batch_t *b) {
    char tmp[4096], final_path[4096];
    snprintf(tmp, sizeof tmp, "%s/.b%lld.v%d.tmp", v->out_dir, (long long)b->batch_id, VERSION);
    snprintf(final_path, sizeof final_path, "%s/b%lld.txt", v->out_dir, (long long)b->batch_id);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return -1;
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *rec =
            (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
        fprintf(f, "%d %lld v%d\n", rec->partition, (long long)rec->offset, VERSION);
    }
    if (fclose(f) != 0) return -1;
    return rename(tmp, final_path);
}

static int32_t v_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    versioned_t *v = instance;
    char line[256];
    snprintf(line, sizeof line, "batch %lld records %zu seen %llu", (long long)b->batch_id,
             b->record_count, v->seen + b->record_count);
    log_line(v, line);
    if (BROKEN == 1) {
        snprintf(err, err_size, "v%d is broken", VERSION);
        return SLUICE_FATAL;
    }
    if (v->out_dir != NULL && write_batch_file(v, b) != 0) {
        snprintf(err, err_size, "v%d cannot write batch %lld to %s", VERSION,
                 (long long)b->batch_id, v->out_dir);
        return SLUICE_FATAL;
    }
    v->seen += b->record_count;
    return SLUICE_OK;
}

static int32_t v_assigned(void *instance, const sluice_topic_partition_t *tps, size_t count,
                          size_t stride, char *err, size_t err_size) {
    (void)tps, (void)stride, (void)err, (void)err_size;
    char line[64];
    snprintf(line, sizeof line, "assigned %zu", count);
    log_line(instance, line);
    return SLUICE_OK;
}

static int32_t v_snapshot(void *instance, sluice_state_writer_fn write, void *sink, char *err,
                          size_t err_size) {
    (void)err, (void)err_size;
    const versioned_t *v = instance;
    char text[64];
    int n = snprintf(text, sizeof text, "seen=%llu", v->seen);
    write(sink, text, (size_t)n);
    return SLUICE_OK;
}

static int32_t v_restore(void *instance, const void *data, size_t len, char *err, size_t err_size) {
    versioned_t *v = instance;
    char line[128];
    snprintf(line, sizeof line, "restore %.*s", (int)len, (const char *)data);
    log_line(v, line);
    if (len < 5 || memcmp(data, "seen=", 5) != 0) {
        snprintf(err, err_size, "v%d: state is not 'seen=N'", VERSION);
        return SLUICE_FATAL;
    }
    char num[32] = {0};
    memcpy(num, (const char *)data + 5, len - 5 < sizeof num - 1 ? len - 5 : sizeof num - 1);
    v->seen = strtoull(num, NULL, 10);
    return SLUICE_OK;
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = BROKEN == 3 ? SLUICE_ABI_MAJOR + 1 : SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "versioned",
    .version = STR(VERSION),
    .description = "hot-reload test sink tagging its output with its version",
    .flags = 0,
    .create = v_create,
    .destroy = v_destroy,
    .process_batch = v_process,
    .partitions_assigned = v_assigned,
    .snapshot_state = v_snapshot,
    .restore_state = v_restore,
};

#if BROKEN == 4
const sluice_plugin_t *not_the_entry(uint32_t major, uint32_t minor);
#define ENTRY_NAME not_the_entry
#define ENTRY_EXPORT
#else
#define ENTRY_NAME sluice_plugin_entry
#define ENTRY_EXPORT SLUICE_EXPORT
#endif

ENTRY_EXPORT const sluice_plugin_t *ENTRY_NAME(uint32_t major, uint32_t minor) {
    (void)major, (void)minor;
    return &descriptor; /* the host checks the versions */
}
