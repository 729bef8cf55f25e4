// Explicit registries of methods, data sets and protocols (README Design §10): filled by one call from main
// (register_builtins), no static-initialiser magic; duplicates are rejected; unknown names are answered
// with the closest valid names.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/errors.h"
#include "harness/spec/suggest.h"
#include "harness/store/run_state.h"

namespace usbench {

// Validates a user-supplied config object and returns the fully resolved config: every field present,
// defaults filled in, types normalised. Throws SpecError naming `path` + key on any problem.
// `origin` names the document (the spec file) for messages.
using ConfigResolver = std::function<nlohmann::json(const nlohmann::json& user_config, const std::string& origin,
                                                    const std::string& path)>;

// Behaviour that a registry entry carries is declared here by types of the folders that implement it
// (methods/, datasets/); only the files that build or call it need their definitions.
namespace methods {
class Pretrainer;
struct PretrainerArgs;  // methods/pretrainer.h: resolved config, classes of the pretraining set, device, seed
}  // namespace methods
namespace datasets {
struct Discovery;
struct SamplingRule;
struct FrameBlock;
struct ClipSource;
}  // namespace datasets

// Where a method's backbone weights come from before fine-tuning.
enum class WeightsSource {
  Initialisation,  // torchvision's random initialisation from the run's init stream, or the method's pretraining
  ImagenetFile,    // torchvision's ImageNet file: the method's "weights", else --weights / the environment / the hub
                   // cache
  GivenFile,       // the file the method's "weights" names (required)
};

// One setting of the authors' recipe that a component's config can be compared with: the config key, the
// reference's value, and where in the authors' code (or paper) it comes from. `when_absent` is the value
// usbench uses where the resolved config omits the key (keys written only when they differ from their
// default, so that older run identities hold); null: the key is always written.
struct ReferenceSetting {
  std::string key;
  nlohmann::json value;
  std::string source;
  nlohmann::json when_absent = nullptr;
};

// A method that reports compare every other row with, on the same test frames.
enum class PairedRole {
  None,
  PaperMethod,  // the method the paper proposes (USCL): "vs USCL"
  Baseline,     // the no-pretraining baseline (random-init): "did pretraining help?"
};

struct MethodInfo {
  std::string name;
  int version = 1;  // bumped whenever a change can move results; part of run identity
  std::string summary;
  ConfigResolver resolve;
  // The pretraining stage: the method's networks, optimiser and loss, from its resolved config. Empty for a
  // method without one (random, imagenet, checkpoint).
  std::function<std::unique_ptr<methods::Pretrainer>(const methods::PretrainerArgs&)> make_pretrainer;
  bool pretrains() const { return static_cast<bool>(make_pretrainer); }
  WeightsSource weights = WeightsSource::Initialisation;
  // Reports test every row against the first row (of the same protocol) of the method in each role.
  PairedRole paired_role = PairedRole::None;
  // The recipe this method reproduces (the authors' code, or the method's paper) setting by setting, and
  // what differs from it in ways no config shows; reports list both beside every table.
  std::vector<ReferenceSetting> reference;
  std::vector<std::string> structural_differences;
};

struct DatasetInfo {
  std::string name;
  int version = 1;
  std::string summary;
  ConfigResolver resolve;
  // The clips of a resolved config (files found, labels read); for a generated kind, the clips it will
  // generate, each with its content id.
  std::function<datasets::Discovery(const nlohmann::json& config)> discover;
  // How frames are sampled from a clip's source.
  std::function<datasets::SamplingRule(const nlohmann::json& config)> sampling;
  // Generated data (synthetic): a clip's frames made from the config; empty for data decoded from files.
  std::function<datasets::FrameBlock(const datasets::ClipSource& clip, const nlohmann::json& config, int stored_size)>
      generate;
  // What tables call data of this kind ("" = the kind's name); `synthetic` marks data that says nothing
  // about ultrasound, which every table states.
  std::string table_name;
  bool synthetic = false;
};

// What a downstream protocol trains.
enum class TrainedPart {
  Head,                 // a new head on a frozen backbone
  Layer4Block1AndHead,  // layer4's last block and the head (the USCL authors' evaluation)
  All,                  // every layer
};

// How the head is fitted.
enum class HeadFit {
  Epochs,              // epochs of Adam with a cosine schedule, every epoch evaluated
  LogisticRegression,  // once, to convergence: standardised features, multinomial L2 logistic regression
};

struct ProtocolInfo {
  std::string name;
  int version = 1;
  std::string summary;
  Stage stage = Stage::Finetune;  // its runs' stage: Finetune, or Probe (a frozen backbone)
  ConfigResolver resolve;
  TrainedPart trains = TrainedPart::All;
  bool cached_features = false;  // a frozen backbone's features computed once per run
  HeadFit fit = HeadFit::Epochs;
  // Whether a validation part is carved from the training folds (by clip) to select an epoch; without one
  // the head is fitted on all training folds, as the authors' evaluation does.
  bool validation_part = true;
  // The epoch selections the protocol reports, in table order ("best_test", "last", "best_val"; see
  // harness/store/results_schema.h), and the one its statistics (intervals, paired tests) use.
  std::vector<std::string> selections;
  std::string headline_selection;
  // The authors' settings for this protocol, where it follows their code ("" source: none).
  std::vector<ReferenceSetting> reference;
  // The paper's figures under this protocol, by method name (e.g. the USCL paper's 94.19% for uscl).
  std::map<std::string, std::string> paper_figures;
  std::string paper_figure_title;  // the column's title
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
