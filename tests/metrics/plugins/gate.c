/* Test plugin: holds each batch with records while the file named by config "gate" exists
 * (checked every 10 ms, for at most 120 s), then lets it through. A test closes the gate by
 * creating the file and opens it by removing it: the committed offsets stop where they are,
 * so the consumer lag is whatever was produced since, and stays put while the test compares. */
#include <sluice/sluice.h>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct gate {
    const char *path;
} gate_t;

static int32_t gate_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                           char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    gate_t *g = calloc(1, sizeof *g);
    g->path = host->config_get(ctx, "gate");
    *instance = g;
    return SLUICE_OK;
}

static void gate_destroy(void *instance) {
    free(instance);
}

static int32_t gate_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    (void)b;
    (void)err;
    (void)err_size;
    const gate_t *g = instance;
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; g->path != NULL && i < 12000 && access(g->path, F_OK) == 0; ++i)
        nanosleep(&tick, NULL);
    return SLUICE_OK;
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "gate",
    .version = "1.0.0",
    .description = "test plugin that holds batches while a file exists",
    .flags = 0u,
    .create = gate_create,
    .destroy = gate_destroy,
    .process_batch = gate_process,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == SLUICE_ABI_MAJOR ? &descriptor : NULL;
}
