// Error types that map onto the CLI's exit codes (README Design §8): UsageError -> 2 (bad usage or bad input:
// a malformed spec, a file that is not a usbench store, a missing path), RunFailure -> 1 (a run or a
// check failed), Interrupted -> 128 + signal. Messages are written for a person: they name the file or key and the
// reason.
#pragma once
#include <stdexcept>
#include <string>

namespace usbench {

class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

class RunFailure : public std::runtime_error {
 public:
  explicit RunFailure(const std::string& what) : std::runtime_error(what) {}
};

// The process received SIGINT or SIGTERM (signal()): the current run was marked `interrupted` and the
// command exits with 128 + signal (130, 143), as a shell reports a process killed by it.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// A spec or config value is wrong. `key_path` is the dotted path of the offending key (e.g.
// "protocols.0.config.epochs"); what() is the full, printable message.
class SpecError : public UsageError {
 public:
  SpecError(std::string key_path, const std::string& message) : UsageError(message), key_path_(std::move(key_path)) {}
  const std::string& key_path() const { return key_path_; }

 private:
  std::string key_path_;
};

}  // namespace usbench
