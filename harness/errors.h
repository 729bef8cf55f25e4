// Error types that map onto the CLI's exit codes (DESIGN §8): UsageError -> 2 (bad usage or bad input:
// a malformed spec, a file that is not a usbench store, a missing path), RunFailure -> 1 (a run or a
// check failed). Messages are written for a person: they name the file or key and the reason.
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

// A spec or config value is wrong. `key_path` is the dotted path of the offending key (e.g.
// "protocols.0.config.epochs"); what() is the full, printable message.
class SpecError : public UsageError {
 public:
  SpecError(std::string key_path, const std::string& message)
      : UsageError(message), key_path_(std::move(key_path)) {}
  const std::string& key_path() const { return key_path_; }

 private:
  std::string key_path_;
};

}  // namespace usbench
