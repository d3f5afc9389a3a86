#include "image/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace engine::image {

bool read_regular_file(const char* path, size_t max_bytes, std::vector<uint8_t>& out) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer (io/read.ts opens the same way)
  const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && size_t(st.st_size) <= max_bytes;
  if (ok) {
    out.resize(size_t(st.st_size) + 1);  // one byte more: a file that grew is seen
    size_t done = 0;
    for (;;) {
      const ssize_t n = read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      done += size_t(n);
      if (done == out.size()) {
        if (done > max_bytes) {
          ok = false;
          break;
        }
        out.resize(out.size() * 2 > max_bytes + 1 ? max_bytes + 1 : out.size() * 2);
      }
    }
    out.resize(done);
  }
  close(fd);
  return ok;
}

}  // namespace engine::image
