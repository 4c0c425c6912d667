/* What one durable audit batch costs this machine's disk, without cofferd (issue 22).
 *
 *   gcc -O2 -o fsync-loop docs/perf/fsync-loop.c && ./fsync-loop MODE [BYTES] [DIR]
 *
 * Writes BYTES (default 800, about one Encrypt record) 3,000 times, one after another, over a
 * file of zeros written and synced beforehand (as the audit sink's preallocated tail), and prints
 * the wall time and the process's CPU time per durable write. MODE:
 *   0  pwrite, then fdatasync                      (what the sink does)
 *   1  pwrite of whole 4 KiB blocks, O_DIRECT|O_DSYNC (the last partial block written again)
 *   2  pwrite on an O_DSYNC descriptor
 *   3  pwritev2 with RWF_DSYNC
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double wall_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODE [BYTES] [DIR]\n", argv[0]);
    return 2;
  }
  const int mode = atoi(argv[1]);
  const size_t rec = argc > 2 ? (size_t)atoi(argv[2]) : 800;
  const char *dir = argc > 3 ? argv[3] : ".";
  const int n = 3000;
  const size_t total = 8 << 20;
  char path[4096];
  snprintf(path, sizeof path, "%s/fsync-loop.bin", dir);
  unlink(path);

  int fd = open(path, O_RDWR | O_CREAT, 0600);
  char *zeros = calloc(1, total);
  if (fd < 0 || !zeros || write(fd, zeros, total) != (ssize_t)total || fsync(fd) != 0) {
    perror("prepare");
    return 1;
  }
  close(fd);

  int flags = O_RDWR;
  if (mode == 1) flags |= O_DIRECT | O_DSYNC;
  if (mode == 2) flags |= O_DSYNC;
  fd = open(path, flags);
  char *buf;
  if (fd < 0 || posix_memalign((void **)&buf, 4096, 1 << 20) != 0) {
    perror("open");
    return 1;
  }
  memset(buf, 'x', 1 << 20);

  const double w0 = wall_us(), c0 = cpu_us();
  off_t off = 0;
  for (int i = 0; i < n; i++) {
    ssize_t r = 0;
    if (mode == 0) {
      r = pwrite(fd, buf, rec, off);
      if (r >= 0) r = fdatasync(fd);
    } else if (mode == 1) {
      const off_t start = off & ~(off_t)4095;
      const size_t len = (((size_t)off + rec + 4095) & ~(size_t)4095) - (size_t)start;
      r = pwrite(fd, buf, len, start);
    } else if (mode == 2) {
      r = pwrite(fd, buf, rec, off);
    } else {
      struct iovec v = {buf, rec};
      r = pwritev2(fd, &v, 1, off, RWF_DSYNC);
    }
    if (r < 0) {
      perror("write");
      return 1;
    }
    off += rec;
  }
  const double w1 = wall_us(), c1 = cpu_us();
  printf("mode %d, %zu bytes: %.1f us wall, %.1f us cpu per durable write\n", mode, rec,
         (w1 - w0) / n, (c1 - c0) / n);
  unlink(path);
  return 0;
}
