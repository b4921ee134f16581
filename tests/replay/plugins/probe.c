/* Test transform for `sluice replay`: logs one line per batch (its id, replay flag and record
 * count) and one at debug level, counts records in the metric "probe_records", and emits every
 * record with its value prefixed "seen:" and a header "probe"="1". With the config key
 * `fail-on` = V it returns SLUICE_SKIP at the first record whose value is V, naming it. It
 * writes "probe-was-here" in its working directory at create (the replay's scratch directory). */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct probe {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
    const char *fail_on;
} probe_t;

static int32_t pr_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                         char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    probe_t *p = calloc(1, sizeof *p);
    p->host = host;
    p->ctx = ctx;
    p->fail_on = host->config_get(ctx, "fail-on");
    FILE *f = fopen("probe-was-here", "w");
    if (f != NULL) fclose(f);
    *instance = p;
    return SLUICE_OK;
}

static void pr_destroy(void *instance) {
    probe_t *p = instance;
    p->host->log(p->ctx, SLUICE_LOG_INFO, "probe destroyed");
    free(p);
}

static int32_t pr_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    probe_t *p = instance;
    char line[256];
    snprintf(line, sizeof line, "batch %lld replay=%d records=%zu ranges=%zu",
             (long long)b->batch_id, (b->flags & SLUICE_BATCH_REPLAY) ? 1 : 0, b->record_count,
             b->range_count);
    p->host->log(p->ctx, SLUICE_LOG_INFO, line);
    p->host->log(p->ctx, SLUICE_LOG_DEBUG, "a debug line");
    p->host->metric(p->ctx, "probe_records", SLUICE_METRIC_COUNTER, (double)b->record_count);
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *in =
            (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
        if (p->fail_on != NULL && in->value != NULL && in->value_len == strlen(p->fail_on) &&
            memcmp(in->value, p->fail_on, in->value_len) == 0) {
            snprintf(err, err_size, "record %s:%d@%lld has value '%s'", in->topic, in->partition,
                     (long long)in->offset, p->fail_on);
            return SLUICE_SKIP;
        }
        sluice_record_t out = *in;
        char value[512];
        size_t n = 0;
        if (in->value != NULL) {
            n = in->value_len < sizeof value - 5 ? in->value_len : sizeof value - 5;
            memcpy(value, "seen:", 5);
            memcpy(value + 5, in->value, n);
            out.value = value;
            out.value_len = n + 5;
        }
        sluice_header_t header = {sizeof(sluice_header_t), "probe", "1", 1};
        out.headers = &header;
        out.header_count = 1;
        out.header_stride = sizeof header;
        int32_t rc = p->host->emit(p->ctx, &out);
        if (rc != SLUICE_OK) {
            snprintf(err, err_size, "emit failed");
            return rc;
        }
    }
    return SLUICE_OK;
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "probe",
    .version = "1.0.0",
    .description = "logs, counts and re-emits every record (sluice replay's tests)",
    .flags = SLUICE_PLUGIN_TRANSFORM,
    .create = pr_create,
    .destroy = pr_destroy,
    .process_batch = pr_process,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
    return &descriptor;
}
