// The fault injector itself: each effect does what iofault.h says, on real files.
#include "iofault.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "temp_dir.hpp"

namespace {

off_t size_of(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_size;
}

class IoFault : public ::testing::Test {
  protected:
    void TearDown() override { sluice_iofault_configure(nullptr); }
    sluice::test::TempDir dir_ = sluice::test::temp_dir("iofault");
    int open_file(const char *name) {
        const std::string path = (dir_.path() / name).string();
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        EXPECT_GE(fd, 0);
        return fd;
    }
};

TEST_F(IoFault, RejectsRulesItCannotParse) {
    EXPECT_EQ(sluice_iofault_configure("op=explode"), -1);
    EXPECT_EQ(sluice_iofault_configure("op=read,effect=short"), -1);
    EXPECT_EQ(sluice_iofault_configure("op=write,nth=0"), -1);
    EXPECT_EQ(sluice_iofault_configure("op=write,path=x,nth=2;op=fsync,error=EIO"), 0);
}

TEST_F(IoFault, FailsTheNthWriteOnAMatchingPathOnly) {
    ASSERT_EQ(sluice_iofault_configure("op=write,path=target,nth=2"), 0);
    int other = open_file("other");
    int fd = open_file("target");
    EXPECT_EQ(::write(other, "abc", 3), 3);
    EXPECT_EQ(::write(fd, "abc", 3), 3);
    errno = 0;
    EXPECT_EQ(::write(fd, "abc", 3), -1);
    EXPECT_EQ(errno, ENOSPC);
    EXPECT_EQ(::write(fd, "abc", 3), 3);  // count=1: only one failure
    EXPECT_EQ(::write(other, "abc", 3), 3);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(size_of(fd), 6);
    ::close(fd);
    ::close(other);
}

TEST_F(IoFault, ShortWriteThenFailure) {
    ASSERT_EQ(sluice_iofault_configure("op=write,path=target,count=2,effect=short"), 0);
    int fd = open_file("target");
    char buf[10] = "012345678";
    struct iovec iov[2] = {{buf, 4}, {buf + 4, 6}};
    EXPECT_EQ(::writev(fd, iov, 2), 5);
    EXPECT_EQ(::write(fd, buf, 10), -1);
    EXPECT_EQ(errno, ENOSPC);
    EXPECT_EQ(::pwrite(fd, buf, 10, 0), 10);
    EXPECT_EQ(size_of(fd), 10);
    EXPECT_EQ(sluice_iofault_fired(), 2u);
    ::close(fd);
}

TEST_F(IoFault, DroppedFsyncCutsBackToTheLastGoodSync) {
    ASSERT_EQ(sluice_iofault_configure("op=fsync,path=target,nth=2,effect=drop"), 0);
    int fd = open_file("target");
    EXPECT_EQ(::write(fd, "first", 5), 5);
    EXPECT_EQ(::fdatasync(fd), 0);
    EXPECT_EQ(::write(fd, "second", 6), 6);
    errno = 0;
    EXPECT_EQ(::fsync(fd), -1);
    EXPECT_EQ(errno, EIO);
    EXPECT_EQ(size_of(fd), 5);  // the unsynced bytes are gone
    EXPECT_EQ(::fsync(fd), 0);  // and the next fsync "succeeds", as Linux's may
    ::close(fd);
}

TEST_F(IoFault, DirectoryFsyncAndReads) {
    ASSERT_EQ(sluice_iofault_configure("op=dirfsync;op=read,path=target,error=EIO"), 0);
    int fd = open_file("target");
    EXPECT_EQ(::write(fd, "data", 4), 4);
    EXPECT_EQ(::fsync(fd), 0);  // a file, not the directory
    int dfd = ::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dfd, 0);
    EXPECT_EQ(::fsync(dfd), -1);
    EXPECT_EQ(errno, EIO);
    char buf[4];
    EXPECT_EQ(::pread(fd, buf, 4, 0), -1);
    EXPECT_EQ(errno, EIO);
    EXPECT_EQ(::pread(fd, buf, 4, 0), 4);
    EXPECT_EQ(sluice_iofault_fired(), 2u);
    ::close(dfd);
    ::close(fd);
}

}  // namespace
