/* A plugin that misbehaves on purpose, for the isolation tests (tests/isolation). Pure C,
 * against sluice.h only. Built twice: `crashy` passes its input on; `crashy_upper`
 * (CRASHY_TRANSFORM=1) is a transform that emits each record with its value in upper case and a
 * header crashy=upper.
 *
 * [plugin.crashy] keys (it does not declare them):
 *   crash-on = VALUE   a record with this value makes process_batch misbehave as `how` says
 *   crash-offset = N   so does the record at offset N
 *   how      = segv | abort | exit | hang | alloc | exec   (default segv; exec runs /bin/true
 *              in place of the worker, or logs why it could not and goes on)
 *   create   = abort   abort() inside create
 *   sleep-ms = N       sleep N ms in every process_batch (keeps the worker busy under load)
 */
#include <sluice/sluice.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CRASHY_TRANSFORM
#define CRASHY_TRANSFORM 0
#endif

typedef struct {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
    const char *crash_on;
    const char *how;
    long sleep_ms;
    long long crash_offset;
} crashy_t;

static int32_t crashy_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                             char *err, size_t err_size) {
    const char *create = host->config_get(ctx, "create");
    if (create != NULL && strcmp(create, "abort") == 0) {
        host->log(ctx, SLUICE_LOG_WARN, "crashy: create = abort, aborting in create");
        abort();
    }
    crashy_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        snprintf(err, err_size, "out of memory");
        return SLUICE_FATAL;
    }
    self->host = host;
    self->ctx = ctx;
    self->crash_on = host->config_get(ctx, "crash-on");
    self->how = host->config_get(ctx, "how");
    if (self->how == NULL) self->how = "segv";
    const char *sleep_ms = host->config_get(ctx, "sleep-ms");
    self->sleep_ms = sleep_ms != NULL ? atol(sleep_ms) : 0;
    const char *crash_offset = host->config_get(ctx, "crash-offset");
    self->crash_offset = crash_offset != NULL ? atoll(crash_offset) : -1;
    host->log(ctx, SLUICE_LOG_INFO, "crashy: created");
    *instance = self;
    return SLUICE_OK;
}

static void crashy_destroy(void *instance) {
    free(instance);
}

/* A real segmentation fault, not a report: the sanitizers' builds would flag the store. */
#if defined(__GNUC__)
__attribute__((no_sanitize("undefined", "address")))
#endif
static void
segfault(void) {
    volatile int *nowhere = NULL;
    *nowhere = 1;
}

static void misbehave(crashy_t *self, const sluice_record_t *r) {
    char line[256];
    snprintf(line, sizeof line, "crashy: the record at offset %lld is poison: %s",
             (long long)r->offset, self->how);
    self->host->log(self->ctx, SLUICE_LOG_WARN, line);
    if (strcmp(self->how, "abort") == 0) abort();
    if (strcmp(self->how, "exit") == 0) exit(7);
    if (strcmp(self->how, "exec") == 0) {
        execl("/bin/true", "true", (char *)NULL);
        snprintf(line, sizeof line, "crashy: exec refused: %s", strerror(errno));
        self->host->log(self->ctx, SLUICE_LOG_WARN, line);
        return;
    }
    if (strcmp(self->how, "hang") == 0) {
        for (;;) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    }
    if (strcmp(self->how, "alloc") == 0) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (p == NULL) abort(); /* what most code does when malloc fails */
            memset(p, 1, 1 << 20);
        }
    }
    segfault();
}

static int32_t crashy_process(void *instance, const sluice_batch_t *batch, char *err,
                              size_t err_size) {
    crashy_t *self = instance;
    if (self->sleep_ms > 0) {
        struct timespec ts = {self->sleep_ms / 1000, (self->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const size_t want = self->crash_on != NULL ? strlen(self->crash_on) : 0;
    for (size_t i = 0; i < batch->record_count; ++i) {
        const sluice_record_t *r =
            (const sluice_record_t *)((const char *)batch->records + i * batch->record_stride);
        if (r->offset == self->crash_offset) misbehave(self, r);
        if (self->crash_on != NULL && r->value != NULL && r->value_len == want &&
            memcmp(r->value, self->crash_on, want) == 0)
            misbehave(self, r);
        if (CRASHY_TRANSFORM) {
            char upper[256];
            const size_t n = r->value_len < sizeof upper ? r->value_len : sizeof upper;
            for (size_t j = 0; j < n; ++j) {
                const char c = ((const char *)r->value)[j];
                upper[j] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            }
            sluice_header_t h = {sizeof h, "crashy", "upper", 5};
            sluice_record_t out = *r;
            out.struct_size = sizeof out;
            out.value = r->value != NULL ? upper : NULL;
            out.value_len = n;
            out.headers = &h;
            out.header_count = 1;
            out.header_stride = sizeof h;
            if (self->host->emit(self->ctx, &out) != SLUICE_OK) {
                snprintf(err, err_size, "crashy: emit failed");
                return SLUICE_FATAL;
            }
        }
    }
    return SLUICE_OK;
}

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t host_major, uint32_t host_minor) {
    (void)host_minor;
    static const sluice_plugin_t plugin = {
        .struct_size = sizeof(sluice_plugin_t),
        .abi_major = SLUICE_ABI_MAJOR,
        .abi_minor = 0,
        .name = "crashy",
        .version = "1.0.0",
        .flags = CRASHY_TRANSFORM ? SLUICE_PLUGIN_TRANSFORM : 0,
        .create = crashy_create,
        .destroy = crashy_destroy,
        .process_batch = crashy_process,
    };
    return host_major == SLUICE_ABI_MAJOR ? &plugin : NULL;
}
