/* Test transform: uppercases values and drops records whose value is "drop". Every emitted
 * record is built in memory freed right after emit, so the host must copy it. Headers are
 * passed through, and one header "seen-by"="upper" is added. */
#include <sluice/sluice.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#ifndef UPPER_FLAGS
#define UPPER_FLAGS SLUICE_PLUGIN_TRANSFORM
#endif

typedef struct upper {
    const sluice_host_api_t *host;
    sluice_host_ctx_t *ctx;
} upper_t;

static int32_t up_create(const sluice_host_api_t *host, sluice_host_ctx_t *ctx, void **instance,
                         char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    upper_t *u = malloc(sizeof *u);
    u->host = host;
    u->ctx = ctx;
    *instance = u;
    return SLUICE_OK;
}

static void up_destroy(void *instance) {
    free(instance);
}

static int32_t up_process(void *instance, const sluice_batch_t *b, char *err, size_t err_size) {
    upper_t *u = instance;
    for (size_t i = 0; i < b->record_count; ++i) {
        const sluice_record_t *in =
            (const sluice_record_t *)((const char *)b->records + i * b->record_stride);
        if (in->value != NULL && in->value_len == 4 && memcmp(in->value, "drop", 4) == 0) continue;

        sluice_record_t *out = malloc(sizeof *out);
        *out = *in;
        out->struct_size = sizeof *out;
        char *value = NULL;
        if (in->value != NULL) {
            value = malloc(in->value_len + 1);
            for (size_t k = 0; k < in->value_len; ++k)
                value[k] = (char)toupper(((const unsigned char *)in->value)[k]);
            out->value = value;
        }
        /* The headers in a wider stride than the host's, to check the host honours strides. */
        typedef struct {
            sluice_header_t h;
            char pad[24];
        } wide_header_t;
        wide_header_t *headers = calloc(in->header_count + 1, sizeof *headers);
        for (size_t h = 0; h < in->header_count; ++h) {
            headers[h].h =
                *(const sluice_header_t *)((const char *)in->headers + h * in->header_stride);
        }
        headers[in->header_count].h =
            (sluice_header_t){sizeof(sluice_header_t), "seen-by", "upper", 5};
        out->headers = &headers[0].h;
        out->header_count = in->header_count + 1;
        out->header_stride = sizeof(wide_header_t);

        int32_t rc = u->host->emit(u->ctx, out);
        if (value != NULL) memset(value, 0, in->value_len); /* the host must have copied */
        free(value);
        free(headers);
        free(out);
        if (rc != SLUICE_OK) {
            strncpy(err, "emit failed", err_size);
            return rc;
        }
    }
    return SLUICE_OK;
}

static const sluice_plugin_t descriptor = {
    .struct_size = sizeof(sluice_plugin_t),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .name = "upper",
    .version = "1.0.0",
    .description = "uppercases values, drops 'drop'",
    .flags = UPPER_FLAGS,
    .create = up_create,
    .destroy = up_destroy,
    .process_batch = up_process,
};

SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t major, uint32_t minor) {
    (void)major;
    (void)minor;
    return &descriptor;
}
