/* ThreadSanitizer support for the tsan preset only.
 *
 * Debian's librdkafka starts its threads with C11 thrd_create(), which GCC 12's
 * ThreadSanitizer does not intercept: such a thread has no TSan state and
 * crashes in its first malloc. Defining thrd_create in the executable makes the
 * dynamic linker bind librdkafka's calls here, and pthread_create is
 * intercepted. glibc's thrd_t is a pthread_t, so thrd_join and friends keep
 * working on these threads. The threads librdkafka makes are detached or
 * joined below, also through pthread. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct sluice_thrd_start {
    thrd_start_t func;
    void *arg;
};

static void *sluice_thrd_trampoline(void *p) {
    struct sluice_thrd_start start = *(struct sluice_thrd_start *)p;
    free(p);
    return (void *)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg) {
    struct sluice_thrd_start *start = malloc(sizeof *start);
    if (!start) return thrd_nomem;
    start->func = func;
    start->arg = arg;
    if (pthread_create((pthread_t *)thr, NULL, sluice_thrd_trampoline, start) != 0) {
        free(start);
        return thrd_error;
    }
    return thrd_success;
}

/* Detach and join must go through pthread too, or TSan reports the threads
 * as leaked. */
int thrd_detach(thrd_t thr) {
    return pthread_detach((pthread_t)thr) == 0 ? thrd_success : thrd_error;
}

int thrd_join(thrd_t thr, int *res) {
    void *value = NULL;
    if (pthread_join((pthread_t)thr, &value) != 0) return thrd_error;
    if (res) *res = (int)(intptr_t)value;
    return thrd_success;
}
