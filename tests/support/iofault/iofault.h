#pragma once
// sluice_iofault: makes chosen I/O calls fail on demand, for the durability tests.
//
// Built as a shared library. Two ways in:
//  - a child process (the real `sluice` binary): LD_PRELOAD=<libsluice_iofault.so> with the
//    rules in SLUICE_IOFAULT;
//  - a test executable that links the library: its write/fsync/read symbols come before
//    libc's, and the test sets the rules with sluice_iofault_configure().
//
// Rules: separated by ';', each a comma-separated list of key=value:
//
//   op=write|fsync|read|dirfsync   which calls: write/pwrite/writev/pwritev; fsync/fdatasync on a
//                                  file; read/pread; fsync/fdatasync on a directory
//   path=SUBSTRING                 only fds whose path (/proc/self/fd/N) contains it ("" = any)
//   nth=N                          the Nth matching call (1-based) is the first to fail (default 1)
//   count=N                        how many calls fail from then on (default 1; 0 = all)
//   error=EIO|ENOSPC|EINTR|...     the errno (default: ENOSPC for write, else EIO)
//   effect=error|short|drop        error: fail without doing anything (default);
//                                  short (write): write half the bytes (at least 1, if there are
//                                    2 or more) and return that count: the kernel's answer when
//                                    the disk fills mid-write; the next call of the rule fails;
//                                  drop (fsync): cut the file back to its size at the last
//                                    fsync that succeeded, then fail: what Linux may do to dirty
//                                    pages it could not write (the "fsyncgate" behaviour)
//
// Every fault that fires appends one line to the file named by SLUICE_IOFAULT_LOG (if set), e.g.
//   fsync /tmp/x/wal/00000000000000000000.wal EIO drop
// so that a test can check its fault really happened.
//
// Example: SLUICE_IOFAULT='op=fsync,path=.wal,nth=5,effect=drop'

#ifdef __cplusplus
extern "C" {
#endif

/// Replaces every rule (NULL or "" = none) and resets the counters. Returns 0, or -1 when the
/// text does not parse (a message goes to stderr). Thread-safe.
int sluice_iofault_configure(const char *rules);
/// How many faults have fired since the last configure.
unsigned long sluice_iofault_fired(void);

#ifdef __cplusplus
}
#endif
