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

// A POCUS data set record 'pocus' of `clips` clips ("clip0", "clip1", ...) of `frames` frames each, labelled
// covid / pneumonia / regular in turn, each clip its own group; manifest 'a' x 64 (as hand_filled_run's).
inline DatasetRecord hand_filled_pocus(int clips, int frames) {
  DatasetRecord d;
  d.name = "pocus";
  d.kind = "pocus";
  d.source = "/data/pocus";
  d.config_json = "{}";
  d.manifest_hash = std::string(64, 'a');
  const char* labels[] = {"covid", "pneumonia", "regular"};
  for (int c = 0; c < clips; ++c)
    d.clips.push_back({"clip" + std::to_string(c), "/data/clip" + std::to_string(c), labels[c % 3],
                       "clip" + std::to_string(c), frames, 0, std::string(64, 'b'), "{}"});
  return d;
}

}  // namespace usbench::test
