// sluice_iofault: see iofault.h. Test-only; never linked into the host.
#define _GNU_SOURCE
#include "iofault.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_WRITE, OP_FSYNC, OP_READ, OP_DIRFSYNC };
enum effect { EFFECT_ERROR, EFFECT_SHORT, EFFECT_DROP };

struct rule {
    enum op op;
    char path[512];
    unsigned long nth, count, seen, failed;
    int error;
    enum effect effect;
};

#define MAX_RULES 16
#define MAX_FILES 256

struct synced {  // size of a file at its last fsync that succeeded
    dev_t dev;
    ino_t ino;
    off_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[MAX_RULES];
static int rule_count;
static int any_drop;
static unsigned long fired;
static struct synced files[MAX_FILES];
static int file_count;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void resolve(void) {
    if (real_write) return;
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    real_pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    real_pread = (ssize_t(*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

static int errno_from_name(const char *name) {
    static const struct {
        const char *name;
        int value;
    } known[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EINTR", EINTR}, {"EDQUOT", EDQUOT},
                 {"EROFS", EROFS}, {"EBADF", EBADF},   {"EFBIG", EFBIG}, {"EAGAIN", EAGAIN}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i)
        if (strcmp(known[i].name, name) == 0) return known[i].value;
    return atoi(name);
}

static int parse_rule(char *text, struct rule *r) {
    memset(r, 0, sizeof *r);
    r->nth = 1;
    r->count = 1;
    r->error = -1;
    int have_op = 0;
    char *save = NULL;
    for (char *kv = strtok_r(text, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return -1;
        *eq = '\0';
        const char *key = kv, *value = eq + 1;
        if (strcmp(key, "op") == 0) {
            have_op = 1;
            if (strcmp(value, "write") == 0)
                r->op = OP_WRITE;
            else if (strcmp(value, "fsync") == 0)
                r->op = OP_FSYNC;
            else if (strcmp(value, "read") == 0)
                r->op = OP_READ;
            else if (strcmp(value, "dirfsync") == 0)
                r->op = OP_DIRFSYNC;
            else
                return -1;
        } else if (strcmp(key, "path") == 0) {
            snprintf(r->path, sizeof r->path, "%s", value);
        } else if (strcmp(key, "nth") == 0) {
            r->nth = strtoul(value, NULL, 10);
            if (r->nth == 0) return -1;
        } else if (strcmp(key, "count") == 0) {
            r->count = strtoul(value, NULL, 10);
        } else if (strcmp(key, "error") == 0) {
            r->error = errno_from_name(value);
            if (r->error <= 0) return -1;
        } else if (strcmp(key, "effect") == 0) {
            if (strcmp(value, "error") == 0)
                r->effect = EFFECT_ERROR;
            else if (strcmp(value, "short") == 0)
                r->effect = EFFECT_SHORT;
            else if (strcmp(value, "drop") == 0)
                r->effect = EFFECT_DROP;
            else
                return -1;
        } else {
            return -1;
        }
    }
    if (!have_op) return -1;
    if (r->error < 0) r->error = r->op == OP_WRITE ? ENOSPC : EIO;
    if (r->effect == EFFECT_SHORT && r->op != OP_WRITE) return -1;
    if (r->effect == EFFECT_DROP && r->op != OP_FSYNC) return -1;
    return 0;
}

int sluice_iofault_configure(const char *text) {
    resolve();
    struct rule parsed[MAX_RULES];
    int n = 0;
    if (text && *text) {
        char *copy = strdup(text), *save = NULL;
        for (char *one = strtok_r(copy, ";", &save); one; one = strtok_r(NULL, ";", &save)) {
            if (n == MAX_RULES || parse_rule(one, &parsed[n]) != 0) {
                fprintf(stderr, "sluice_iofault: cannot parse the rules '%s' (see iofault.h)\n",
                        text);
                free(copy);
                return -1;
            }
            ++n;
        }
        free(copy);
    }
    pthread_mutex_lock(&lock);
    memcpy(rules, parsed, sizeof(struct rule) * (size_t)n);
    rule_count = n;
    any_drop = 0;
    for (int i = 0; i < n; ++i) any_drop |= rules[i].effect == EFFECT_DROP;
    fired = 0;
    file_count = 0;
    pthread_mutex_unlock(&lock);
    return 0;
}

unsigned long sluice_iofault_fired(void) {
    pthread_mutex_lock(&lock);
    unsigned long n = fired;
    pthread_mutex_unlock(&lock);
    return n;
}

__attribute__((constructor)) static void init(void) {
    resolve();
    const char *env = getenv("SLUICE_IOFAULT");
    if (env && sluice_iofault_configure(env) != 0) _exit(97);
}

static void fd_path(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

static struct synced *synced_of(int fd, int create) {  // lock held
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    for (int i = 0; i < file_count; ++i)
        if (files[i].dev == st.st_dev && files[i].ino == st.st_ino) return &files[i];
    if (!create || file_count == MAX_FILES) return NULL;
    files[file_count] = (struct synced){st.st_dev, st.st_ino, st.st_size};
    return &files[file_count++];
}

static void note(const char *what, const char *path, const struct rule *r) {  // lock held
    ++fired;
    const char *log = getenv("SLUICE_IOFAULT_LOG");
    if (!log) return;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char line[800];
    const char *effect = r->effect == EFFECT_SHORT  ? "short"
                         : r->effect == EFFECT_DROP ? "drop"
                                                    : "error";
    int n =
        snprintf(line, sizeof line, "%s %s %s %s\n", what, path, strerrorname_np(r->error), effect);
    if (n > 0) real_write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    close(fd);
}

/// The rule that fails this call of `op` on `fd`, or NULL. Counts the call. Lock held.
static struct rule *match(enum op op, int fd, char *path, size_t path_size) {
    path[0] = '\0';
    int have_path = 0;
    for (int i = 0; i < rule_count; ++i) {
        struct rule *r = &rules[i];
        if (r->op != op) continue;
        if (!have_path) {
            fd_path(fd, path, path_size);
            have_path = 1;
        }
        if (r->path[0] && !strstr(path, r->path)) continue;
        ++r->seen;
        if (r->seen < r->nth) continue;
        if (r->count != 0 && r->failed >= r->count) continue;
        ++r->failed;
        return r;
    }
    return NULL;
}

static int is_dir(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

// ---------------------------------------------------------------- writes

/// Decides a write of `len` bytes: returns -1 to pass it through, -2 to fail it (errno set), or
/// a shorter length to write instead.
static ssize_t write_verdict(int fd, size_t len) {
    if (!rule_count) return -1;
    char path[4096];
    pthread_mutex_lock(&lock);
    if (any_drop) synced_of(fd, 1);  // a file's baseline before its first write
    struct rule *r = match(OP_WRITE, fd, path, sizeof path);
    ssize_t verdict = -1;
    int err = 0;
    if (r) {
        note("write", path, r);
        if (r->effect == EFFECT_SHORT && len >= 2) {
            verdict = (ssize_t)(len / 2);
            r->effect = EFFECT_ERROR;  // the next one the rule catches fails outright
        } else {
            verdict = -2;
            err = r->error;
        }
    }
    pthread_mutex_unlock(&lock);
    if (verdict == -2) errno = err;
    return verdict;
}

static size_t iov_total(const struct iovec *iov, int count) {
    size_t n = 0;
    for (int i = 0; i < count; ++i) n += iov[i].iov_len;
    return n;
}

/// The first `len` bytes of an iovec array, flattened.
static void *flatten(const struct iovec *iov, int count, size_t len) {
    char *buf = malloc(len ? len : 1), *at = buf;
    for (int i = 0; i < count && len > 0; ++i) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
        memcpy(at, iov[i].iov_base, n);
        at += n;
        len -= n;
    }
    return buf;
}

ssize_t write(int fd, const void *buf, size_t len) {
    resolve();
    ssize_t v = write_verdict(fd, len);
    if (v == -2) return -1;
    return real_write(fd, buf, v >= 0 ? (size_t)v : len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t at) {
    resolve();
    ssize_t v = write_verdict(fd, len);
    if (v == -2) return -1;
    return real_pwrite(fd, buf, v >= 0 ? (size_t)v : len, at);
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t at) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int count) {
    resolve();
    ssize_t v = write_verdict(fd, iov_total(iov, count));
    if (v == -2) return -1;
    if (v < 0) return real_writev(fd, iov, count);
    void *flat = flatten(iov, count, (size_t)v);
    ssize_t n = real_write(fd, flat, (size_t)v);
    free(flat);
    return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t at) {
    resolve();
    ssize_t v = write_verdict(fd, iov_total(iov, count));
    if (v == -2) return -1;
    if (v < 0) return real_pwritev(fd, iov, count, at);
    void *flat = flatten(iov, count, (size_t)v);
    ssize_t n = real_pwrite(fd, flat, (size_t)v, at);
    free(flat);
    return n;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int count, off_t at)
    __attribute__((alias("pwritev")));

// ---------------------------------------------------------------- fsync

static int sync_common(int fd, int (*real)(int)) {
    if (!rule_count) return real(fd);
    char path[4096];
    pthread_mutex_lock(&lock);
    const int dir = is_dir(fd);
    struct rule *r = match(dir ? OP_DIRFSYNC : OP_FSYNC, fd, path, sizeof path);
    if (r) {
        note(dir ? "dirfsync" : "fsync", path, r);
        if (r->effect == EFFECT_DROP) {
            struct synced *s = synced_of(fd, 0);
            if (s && ftruncate(fd, s->size) != 0) { /* the fault stands either way */
            }
        }
        const int err = r->error;
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    pthread_mutex_unlock(&lock);
    const int rc = real(fd);
    if (rc == 0 && any_drop && !dir) {
        pthread_mutex_lock(&lock);
        struct synced *s = synced_of(fd, 1);
        struct stat st;
        if (s && fstat(fd, &st) == 0) s->size = st.st_size;
        pthread_mutex_unlock(&lock);
    }
    return rc;
}

int fsync(int fd) {
    resolve();
    return sync_common(fd, real_fsync);
}

int fdatasync(int fd) {
    resolve();
    return sync_common(fd, real_fdatasync);
}

// ---------------------------------------------------------------- reads

static int read_fails(int fd) {
    if (!rule_count) return 0;
    char path[4096];
    pthread_mutex_lock(&lock);
    struct rule *r = match(OP_READ, fd, path, sizeof path);
    int err = 0;
    if (r) {
        note("read", path, r);
        err = r->error;
    }
    pthread_mutex_unlock(&lock);
    if (err) errno = err;
    return err != 0;
}

ssize_t read(int fd, void *buf, size_t len) {
    resolve();
    if (read_fails(fd)) return -1;
    return real_read(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t at) {
    resolve();
    if (read_fails(fd)) return -1;
    return real_pread(fd, buf, len, at);
}
ssize_t pread64(int fd, void *buf, size_t len, off_t at) __attribute__((alias("pread")));
