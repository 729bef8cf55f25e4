// Explicit registries of methods, data sets and protocols (DESIGN §10): filled by one call from main
// (register_builtins), no static-initialiser magic; duplicates are rejected; unknown names are answered
// with the closest valid names.
#pragma once
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/errors.h"
#include "harness/spec/suggest.h"

namespace usbench {

// Validates a user-supplied config object and returns the fully resolved config: every field present,
// defaults filled in, types normalised. Throws SpecError naming `path` + key on any problem.
// `origin` names the document (the spec file) for messages.
using ConfigResolver =
    std::function<nlohmann::json(const nlohmann::json& user_config, const std::string& origin, const std::string& path)>;

struct MethodInfo {
  std::string name;
  int version = 1;  // bumped whenever a change can move results; part of run identity
  std::string summary;
  bool pretrains = false;  // true when the method has a pretraining stage (USCL, SimCLR, MoCo)
  ConfigResolver resolve;
};

struct DatasetInfo {
  std::string name;
  int version = 1;
  std::string summary;
  ConfigResolver resolve;
};

struct ProtocolInfo {
  std::string name;
  int version = 1;
  std::string summary;
  std::string stage;  // "finetune" or "probe"
  ConfigResolver resolve;
};

template <class Info>
class Registry {
 public:
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  void add(Info info) {
    if (info.name.empty()) throw std::invalid_argument(kind_ + " registry: empty name");
    if (!info.resolve) throw std::invalid_argument(kind_ + " registry: '" + info.name + "' has no config resolver");
    if (items_.count(info.name)) throw std::invalid_argument(kind_ + " registry: duplicate name '" + info.name + "'");
    std::string name = info.name;
    items_.emplace(std::move(name), std::move(info));
  }

  bool contains(const std::string& name) const { return items_.count(name) > 0; }

  // Throws UsageError "unknown method 'x' (did you mean 'y'?); known: a, b, c".
  const Info& get(const std::string& name) const {
    auto it = items_.find(name);
    if (it != items_.end()) return it->second;
    const auto known = names();
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
    throw UsageError("unknown " + kind_ + " '" + name + "'" + did_you_mean(name, known) + "; known: " + list);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : items_) out.push_back(kv.first);
    return out;
  }
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::map<std::string, Info> items_;
};

struct Registries {
  Registry<MethodInfo> methods{"method"};
  Registry<DatasetInfo> datasets{"dataset"};
  Registry<ProtocolInfo> protocols{"protocol"};
};

}  // namespace usbench
