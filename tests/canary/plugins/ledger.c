/* Test sink for canaries on a partition slice, one source, several builds (LEDGER_MODE):
 *   1 "v1"    appends one line per record, assignment and revocation to [plugin.ledger] path
 *   2 "v2"    the same (another version)
 *   3 "boom"  like 1, but returns SLUICE_FATAL at a record whose value is "boom" (before it
 *             writes anything of that batch)
 *   4 "retry" like 1, but returns SLUICE_RETRY the first time it is given a record whose value
 *             is "again" (before it writes anything of that batch), OK from then on
 * Every generation appends to the same file (O_APPEND, one write per line), each line marked
 * with the instance (its creation time in ns) and the build:
 *   open  ID VERSION TOPIC-PARTITION
 *   close ID VERSION TOPIC-PARTITION
 *   rec   ID VERSION TOPIC-PARTITION OFFSET
 * so a test can check that every record reached exactly one generation once, and only a
 * generation that held its partition then. */
#include <sluice/sluice.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LEDGER_MODE
#define LEDGER_MODE 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct ledger {
    int fd;
    unsigned long long id;
    int retried;
} ledger_t;

static int32_t lg_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                         char *err, size_t err_size) {
    const char *path = host->config_get(ctx, "path");
    if (path == NULL) {
        snprintf(err, err_size, "ledger: [plugin.ledger] path is not set");
        return SLUICE_FATAL;
    }
    ledger_t *l = calloc(1, sizeof *l);
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        snprintf(err, err_size, "ledger: cannot open %s", path);
        free(l);
        return SLUICE_FATAL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l->id = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
    *instance = l;
    return SLUICE_OK;
}

static void lg_destroy(void *instance) {
    ledger_t *l = instance;
    close(l->fd);
    free(l);
}

static int lg_line(ledger_t *l, const char *what, const char *topic, int32_t partition,
                   long long offset) {
    char line[512];
    int n = offset < 0 ? snprintf(line, sizeof line, "%s %llu %s %s-%d\n", what, l->id,
                                  STR(LEDGER_MODE), topic, partition)
                       : snprintf(line, sizeof line, "%s %llu %s %s-%d %lld\n", what, l->id,
                                  STR(LEDGER_MODE), topic, partition, offset);
    return write(l->fd, line, (size_t)n) == n ? 0 : -1;
}

static const sluice_record_t *record_at(const sluice_batch_t *b, size_t i) {
    return (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
}

static int32_t lg_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    ledger_t *l = instance;
    for (size_t i = 0; LEDGER_MODE == 3 && i < b->record_count; ++i) {
        const sluice_record_t *r = record_at(b, i);
        if (r->value != NULL && r->value_len == 4 && memcmp(r->value, "boom", 4) == 0) {
            snprintf(err, err_size, "cannot store offset %lld", (long long)r->offset);
            return SLUICE_FATAL;
        }
    }
    for (size_t i = 0; LEDGER_MODE == 4 && !l->retried && i < b->record_count; ++i) {
        const sluice_record_t *r = record_at(b, i);
        if (r->value != NULL && r->value_len == 5 && memcmp(r->value, "again", 5) == 0) {
            l->retried = 1;
            snprintf(err, err_size, "busy at offset %lld", (long long)r->offset);
            return SLUICE_RETRY;
        }
    }
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *r = record_at(b, i);
        if (lg_line(l, "rec", r->topic, r->partition, r->offset) != 0) {
            snprintf(err, err_size, "ledger: write failed");
            return SLUICE_FATAL;
        }
    }
    return SLUICE_OK;
}

static int32_t lg_partitions(ledger_t *l, const char *what, const sluice_topic_partition_t *tps,
                             size_t count, size_t stride) {
    for (size_t i = 0; i < count; ++i) {
        const sluice_topic_partition_t *tp =
            (const sluice_topic_partition_t *)((const char *)tps + i * stride);
        if (lg_line(l, what, tp->topic, tp->partition, -1) != 0) return SLUICE_FATAL;
    }
    return SLUICE_OK;
}

static int32_t lg_assigned(void *instance, const sluice_topic_partition_t *tps, size_t count,
                           size_t stride, char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    return lg_partitions(instance, "open", tps, count, stride);
}

static int32_t lg_revoked(void *instance, const sluice_topic_partition_t *tps, size_t count,
                          size_t stride, char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    return lg_partitions(instance, "close", tps, count, stride);
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "ledger",
    .version = STR(LEDGER_MODE),
    .description = "writes a line per record and partition hook (canary tests)",
    .flags = 0,
    .create = lg_create,
    .destroy = lg_destroy,
    .process_batch = lg_process,
    .partitions_assigned = lg_assigned,
    .partitions_revoked = lg_revoked,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
    return &descriptor;
}
