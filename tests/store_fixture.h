// Run records for the hand-filled stores of the report and gate tests (no training).
#pragma once
#include <string>

#include "harness/canonical.h"
#include "harness/store/store.h"

namespace usbench::test {

// A uscl-paper fine-tuning run of `experiment` for (method, fold): id from (method, fold), config "{}"
// (it matches a spec whose components carry no config), placeholder hashes (manifest 'a' x 64).
inline RunRecord hand_filled_run(const std::string& experiment, const std::string& method, int fold) {
  RunRecord r;
  r.id = content_hash({{"m", method}, {"f", fold}});
  r.experiment = experiment;
  r.method = method;
  r.protocol = "uscl-paper";
  r.stage = Stage::Finetune;
  r.fold = fold;
  r.config_json = "{}";
  r.config_hash = std::string(64, 'c');
  r.manifest_hash = std::string(64, 'a');
  r.fold_hash = std::string(64, 'f');
  return r;
}

}  // namespace usbench::test
