/* Test sink: appends what it receives to the file named by config "dump_path" and
 * returns the status named by config "status" (with "message"). Config "fail_create" makes
 * create fail with that text; "resume.<topic>.<partition>" answers resume_offsets. Built
 * twice: RECORDER_FLAGS sets the descriptor's flags. */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RECORDER_FLAGS
#define RECORDER_FLAGS 0u
#endif

typedef struct recorder {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
    const char *dump_path;
    int status;
    const char *message;
    int flush_status;
    unsigned long long seen; /* records processed: the state handed over by snapshot/restore */
} recorder_t;

static int config_int(const recorder_t *r, const char *key, int fallback) {
    const char *v = r->host->config_get(r->ctx, key);
    return v != NULL ? atoi(v) : fallback;
}

static void dump(const recorder_t *r, const char *line) {
    if (r->dump_path == NULL) return;
    FILE *f = fopen(r->dump_path, "a");
    if (f == NULL) return;
    fputs(line, f);
    fputc('\n', f);
    fclose(f);
}

static void put_bytes(char *out, size_t size, const void *p, size_t len) {
    if (p == NULL) {
        snprintf(out, size, "null");
    } else {
        snprintf(out, size, "'%.*s'", (int)len, (const char *)p);
    }
}

static int32_t rec_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                          char *err, size_t err_size) {
    const char *fail = host->config_get(ctx, "fail_create");
    if (fail != NULL) {
        snprintf(err, err_size, "%s", fail);
        return SLUICE_FATAL;
    }
    recorder_t *r = calloc(1, sizeof *r);
    r->host = host;
    r->ctx = ctx;
    r->dump_path = host->config_get(ctx, "dump_path");
    r->status = config_int(r, "status", SLUICE_OK);
    r->message = host->config_get(ctx, "message");
    r->flush_status = config_int(r, "flush_status", SLUICE_OK);
    host->log(ctx, SLUICE_LOG_INFO, "recorder created");
    dump(r, "create");
    if (host->config_get(ctx, "emit_in_create") != NULL) {
        sluice_record_t rec = {.struct_size = sizeof rec, .topic = "t"};
        char line[64];
        snprintf(line, sizeof line, "emit_in_create rc=%d", host->emit(ctx, &rec));
        dump(r, line);
    }
    *instance = r;
    return SLUICE_OK;
}

static void rec_destroy(void *instance) {
    recorder_t *r = instance;
    dump(r, "destroy");
    free(r);
}

static int32_t finish(const recorder_t *r, int status, char *err, size_t err_size) {
    if (status != SLUICE_OK && r->message != NULL) snprintf(err, err_size, "%s", r->message);
    return status;
}

static int32_t rec_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    recorder_t *r = instance;
    char line[4096];
    int n = snprintf(line, sizeof line,
                     "batch id=%lld time=%lld flags=%u ranges=", (long long)b->batch_id,
                     (long long)b->batch_time_ms, b->flags);
    for (size_t i = 0; i < b->range_count; ++i) {
        const sluice_offset_range_t *or_ =
            (const sluice_offset_range_t *)((const char *)b->ranges + i * b->range_stride);
        n += snprintf(line + n, sizeof line - n, "%s%s:%d:%lld-%lld", i ? "," : "", or_->topic,
                      or_->partition, (long long)or_->from_offset, (long long)or_->until_offset);
    }
    snprintf(line + n, sizeof line - n, " records=%zu", b->record_count);
    dump(r, line);
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *rec =
            (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
        char key[512], value[512];
        put_bytes(key, sizeof key, rec->key, rec->key_len);
        put_bytes(value, sizeof value, rec->value, rec->value_len);
        n = snprintf(line, sizeof line,
                     "  %s:%d@%lld ts=%lld/%d key=%s value=%s headers=", rec->topic, rec->partition,
                     (long long)rec->offset, (long long)rec->timestamp_ms, rec->timestamp_type, key,
                     value);
        for (size_t h = 0; h < rec->header_count; ++h) {
            const sluice_header_t *hd =
                (const sluice_header_t *)((const char *)rec->headers + h * rec->header_stride);
            put_bytes(value, sizeof value, hd->value, hd->value_len);
            n += snprintf(line + n, sizeof line - n, "%s%s=%s", h ? "," : "", hd->name, value);
        }
        dump(r, line);
    }
    r->seen += b->record_count;
    r->host->metric(r->ctx, "seen", SLUICE_METRIC_COUNTER, (double)b->record_count);
    r->host->metric(r->ctx, "last_batch", SLUICE_METRIC_GAUGE, (double)b->batch_id);
    return finish(r, r->status, err, err_size);
}

static int32_t rec_flush(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    recorder_t *r = instance;
    char line[64];
    snprintf(line, sizeof line, "flush id=%lld", (long long)b->batch_id);
    dump(r, line);
    return finish(r, r->flush_status, err, err_size);
}

static void dump_partitions(const recorder_t *r, const char *what,
                            const sluice_topic_partition_t *tps, size_t count, size_t stride) {
    char line[1024];
    int n = snprintf(line, sizeof line, "%s", what);
    for (size_t i = 0; i < count; ++i) {
        const sluice_topic_partition_t *tp =
            (const sluice_topic_partition_t *)((const char *)tps + i * stride);
        n += snprintf(line + n, sizeof line - n, " %s:%d", tp->topic, tp->partition);
    }
    dump(r, line);
}

static int32_t rec_assigned(void *instance, const sluice_topic_partition_t *tps, size_t count,
                            size_t stride, char *err, size_t err_size) {
    recorder_t *r = instance;
    dump_partitions(r, "assigned", tps, count, stride);
    return finish(r, config_int(r, "assign_status", SLUICE_OK), err, err_size);
}

static int32_t rec_revoked(void *instance, const sluice_topic_partition_t *tps, size_t count,
                           size_t stride, char *err, size_t err_size) {
    recorder_t *r = instance;
    dump_partitions(r, "revoked", tps, count, stride);
    return finish(r, SLUICE_OK, err, err_size);
}

static int32_t rec_resume(void *instance, const sluice_topic_partition_t *tps, size_t count,
                          size_t stride, int64_t *offsets, char *err, size_t err_size) {
    recorder_t *r = instance;
    for (size_t i = 0; i < count; ++i) {
        const sluice_topic_partition_t *tp =
            (const sluice_topic_partition_t *)((const char *)tps + i * stride);
        char key[256];
        snprintf(key, sizeof key, "resume.%s.%d", tp->topic, tp->partition);
        const char *v = r->host->config_get(r->ctx, key);
        if (v != NULL) offsets[i] = atoll(v);
    }
    return finish(r, config_int(r, "resume_status", SLUICE_OK), err, err_size);
}

static int32_t rec_snapshot(void *instance, sluice_state_writer_fn write, void *sink, char *err,
                            size_t err_size) {
    recorder_t *r = instance;
    char text[64];
    int n = snprintf(text, sizeof text, "%llu", r->seen);
    write(sink, "seen=", 5); /* in two pieces: the host must concatenate */
    write(sink, text, (size_t)n);
    return finish(r, SLUICE_OK, err, err_size);
}

static int32_t rec_restore(void *instance, const void *data, size_t len, char *err,
                           size_t err_size) {
    recorder_t *r = instance;
    char line[128];
    snprintf(line, sizeof line, "restore %.*s", (int)len, (const char *)data);
    dump(r, line);
    if (len > 5 && memcmp(data, "seen=", 5) == 0) r->seen = strtoull((const char *)data + 5, 0, 10);
    return finish(r, SLUICE_OK, err, err_size);
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "recorder",
    .version = "1.0.0",
    .description = "test sink that writes down what it receives",
    .flags = RECORDER_FLAGS,
    .create = rec_create,
    .destroy = rec_destroy,
    .process_batch = rec_process,
    .partitions_assigned = rec_assigned,
    .partitions_revoked = rec_revoked,
    .flush = rec_flush,
    .snapshot_state = rec_snapshot,
    .restore_state = rec_restore,
    .resume_offsets = rec_resume,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == SLUICE_ABI_MAJOR ? &descriptor : NULL;
}
