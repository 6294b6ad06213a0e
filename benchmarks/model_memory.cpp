// C++ side of benchmarks/bench_model_memory.py: loads the bundle's model one way and prints the
// process's memory, so each way is measured in a process of its own.
// Usage: model_memory none|path|copied|mapped MODEL_FILE
//   none    the process without a model (baseline)
//   path    Model::load(path): the SDK maps the file
//   copied  the app reads the file into a std::vector, then Model::load(ModelBuffer)
//   mapped  the app maps the file (mmap), then Model::load(ModelBuffer)
// Prints one JSON line, in KiB: peak RSS (VmHWM, file pages included), peak anonymous RSS (the heap,
// what the system cannot reclaim; sampled every millisecond while loading, Linux keeps no high-water
// mark for it), and anonymous and file-backed RSS once the model is loaded and the app dropped its copy.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include SDK_HEADER

namespace sdk = SDK_NAMESPACE;

namespace {

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::stol(line.substr(n + 1));
  }
  return -1;
}

// The largest RssAnon seen while it lives.
class AnonSampler {
 public:
  AnonSampler() : thread_([this] {
      while (!stop_) {
        peak_ = std::max(peak_.load(), status_kib("RssAnon"));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }) {}
  long stop() {
    stop_ = true;
    thread_.join();
    return std::max(peak_.load(), status_kib("RssAnon"));
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> peak_{0};
  std::thread thread_;
};

AnonSampler* sampler = nullptr;

int report(const char* mode, bool ok, const std::string& error) {
  const long peak_anon = sampler != nullptr ? sampler->stop() : status_kib("RssAnon");
  std::printf("{\"mode\": \"%s\", \"ok\": %s, \"peak_kib\": %ld, \"peak_anon_kib\": %ld, \"anon_kib\": %ld, \"file_kib\": %ld, \"error\": \"%s\"}\n", mode,
              ok ? "true" : "false", status_kib("VmHWM"), peak_anon, status_kib("RssAnon"), status_kib("RssFile"), error.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: model_memory none|path|copied|mapped MODEL_FILE\n");
    return 2;
  }
  const std::string mode = argv[1];
  const char* path = argv[2];
  AnonSampler anon;
  sampler = &anon;
  if (mode == "none") return report("none", true, "");
  if (mode == "path") {
    auto model = sdk::Model::load(path);
    return report("path", model.ok(), model.ok() ? "" : model.error().message);
  }
  if (mode == "copied") {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    std::vector<uint8_t> bytes(static_cast<std::size_t>(in.tellg()));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    auto model = sdk::Model::load(sdk::ModelBuffer{bytes.data(), bytes.size()});
    std::vector<uint8_t>().swap(bytes);  // the SDK does not keep it: the app frees it
    return report("copied", model.ok(), model.ok() ? "" : model.error().message);
  }
  if (mode == "mapped") {
    const int fd = open(path, O_RDONLY);
    struct stat info {};
    if (fd < 0 || fstat(fd, &info) != 0) return report("mapped", false, "cannot open the model file");
    const auto size = static_cast<std::size_t>(info.st_size);
    void* data = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (data == MAP_FAILED) return report("mapped", false, "mmap failed");
    auto model = sdk::Model::load(sdk::ModelBuffer{static_cast<const uint8_t*>(data), size});
    munmap(data, size);  // the SDK reads a caller's buffer, never keeps it
    return report("mapped", model.ok(), model.ok() ? "" : model.error().message);
  }
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
