// Test support: run a command (no shell) and capture its exit status, stdout and stderr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tristate::test {

struct ProcessResult {
  int status = -1;  // exit status, or 128 + signal number
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv);

// An environment variable the test needs; an empty string when unset.
std::string env(const char* name);

// A fresh temporary directory, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `bytes` to the file `name` here and returns its path.
  std::string write(const std::string& name, std::string_view bytes) const;
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const;
  // The names of the entries here, sorted.
  std::vector<std::string> files() const;

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

}  // namespace tristate::test
