/* Broken plugins, one per BAD_MODE, for the loader's error messages. */
#include <sluice/sluice.h>

#include <stddef.h>

#define BAD_NO_ENTRY 1   /* exports something, but not the entry */
#define BAD_MAJOR 2      /* built for the next major ABI */
#define BAD_MINOR 3      /* built for a newer minor than the host's */
#define BAD_REFUSE 4     /* entry returns NULL */
#define BAD_TINY 5       /* struct_size too small to hold a version */
#define BAD_SHORT 6      /* struct_size ends before process_batch */
#define BAD_NO_PROCESS 7 /* process_batch missing */
#define BAD_UNDEFINED 8  /* references a symbol nobody defines: dlopen(RTLD_NOW) fails */
#define GOOD_MINIMAL 9   /* valid, struct_size ends at process_batch; flush beyond it */

static int32_t bad_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                          char *err, size_t err_size) {
    (void)host;
    (void)ctx;
    (void)err;
    (void)err_size;
    *instance = NULL;
    return SLUICE_OK;
}

static void bad_destroy(void *instance) {
    (void)instance;
}

#if BAD_MODE == BAD_UNDEFINED
extern int sluice_test_symbol_nobody_defines(void);
#endif

/* Unused in some modes. */
#define MAYBE_UNUSED __attribute__((unused))

static MAYBE_UNUSED int32_t bad_process(void *instance, const sluice_batch_t *b, char *err,
                                        size_t err_size) {
    (void)instance;
    (void)b;
    (void)err;
    (void)err_size;
#if BAD_MODE == BAD_UNDEFINED
    return sluice_test_symbol_nobody_defines();
#else
    return SLUICE_OK;
#endif
}

static int32_t bad_flush(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    (void)instance;
    (void)b;
    (void)err;
    (void)err_size;
    return SLUICE_FATAL; /* must never be called: it lies beyond struct_size */
}

static MAYBE_UNUSED const sluice_plugin_t descriptor = {
#if BAD_MODE == BAD_TINY
    .struct_size = 8,
#elif BAD_MODE == BAD_SHORT
    .struct_size = offsetof(sluice_plugin_t, process_batch),
#elif BAD_MODE == GOOD_MINIMAL
    .struct_size = offsetof(sluice_plugin_t, partitions_assigned),
#else
    .struct_size = sizeof(sluice_plugin_t),
#endif
#if BAD_MODE == BAD_MAJOR
    .abi_major = SLUICE_ABI_MAJOR + 1,
    .abi_minor = 0,
#elif BAD_MODE == BAD_MINOR
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR + 1,
#else
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
#endif
    .name = "bad",
    .version = "0",
    .description = "broken on purpose",
    .create = bad_create,
    .destroy = bad_destroy,
#if BAD_MODE != BAD_NO_PROCESS
    .process_batch = bad_process,
#endif
    .flush = bad_flush,
};

#if BAD_MODE == BAD_NO_ENTRY
SLUICE_EXPORT const sluice_plugin_t *not_the_entry(void) {
    return &descriptor;
}
#else
SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
#if BAD_MODE == BAD_REFUSE
    return NULL;
#else
    return &descriptor;
#endif
}
#endif
