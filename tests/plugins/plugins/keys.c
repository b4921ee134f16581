/* A plugin that declares its config keys (ABI 1.1), one variant per KEYS_MODE. */
#include <sluice/sluice.h>

#include <stddef.h>

#define KEYS_DECLARED 1 /* declares top (int, default 10) and output (path, no default) */
#define KEYS_OLD_ABI 2  /* the same table, but struct_size ends before config_keys (ABI 1.0) */
#define KEYS_NONE 3     /* declares that it takes no keys (non-NULL table, count 0) */
#define KEYS_HOST 4     /* declares on-error, which is the host's key */

static int32_t keys_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                           char *err, size_t err_size) {
    (void)host;
    (void)ctx;
    (void)err;
    (void)err_size;
    *instance = NULL;
    return SLUICE_OK;
}

static void keys_destroy(void *instance) {
    (void)instance;
}

static int32_t keys_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    (void)instance;
    (void)b;
    (void)err;
    (void)err_size;
    return SLUICE_OK;
}

static const sluice_config_key_t keys[] = {
#if KEYS_MODE == KEYS_HOST
    {sizeof(sluice_config_key_t), "on-error", SLUICE_CONFIG_STRING, NULL, "clashes"},
#else
    {sizeof(sluice_config_key_t), "top", SLUICE_CONFIG_INT, "10", "how many to print"},
    {sizeof(sluice_config_key_t), "output", SLUICE_CONFIG_PATH, NULL, "append here"},
#endif
};

static const sluice_plugin_t descriptor = {
#if KEYS_MODE == KEYS_OLD_ABI
    .struct_size = offsetof(sluice_plugin_t, config_keys),
    .abi_minor = 0,
#else
    .struct_size = sizeof(sluice_plugin_t),
    .abi_minor = SLUICE_ABI_MINOR,
#endif
    .abi_major = SLUICE_ABI_MAJOR,
    .name = "keys",
    .version = "1",
    .description = "declares its config keys",
    .create = keys_create,
    .destroy = keys_destroy,
    .process_batch = keys_process,
    .config_keys = keys,
#if KEYS_MODE == KEYS_NONE
    .config_key_count = 0,
#else
    .config_key_count = sizeof keys / sizeof keys[0],
#endif
    .config_key_stride = sizeof(sluice_config_key_t),
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
    return &descriptor;
}
