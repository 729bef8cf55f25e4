// Fold assignment over clips (README Design §3): stratified group k-fold, deterministic from a seed, and import
// of the upstream POCUS split. All frames of a clip, and all clips of a group, share a fold.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/store/store.h"

namespace usbench::datasets {

// Groups (ClipRecord::group) are stratified by label (a group's label is its clips' majority label;
// unlabelled clips form their own stratum). Within a stratum the groups are shuffled with `seed`, taken
// largest first, and each goes to the fold holding the fewest clips of that stratum (ties: fewest clips
// overall, then lowest fold index). With one clip per group this gives, per class, fold sizes that
// differ by at most one. Returns clip_id -> fold in [0, k). Throws UsageError when k exceeds the number
// of groups.
std::map<std::string, int> stratified_group_kfold(const std::vector<ClipRecord>& clips, int k, std::int64_t seed);

struct ImportedSplit {
  int k = 0;
  std::map<std::string, int> fold_of;        // clip_id -> fold, for clips named in the file
  std::vector<std::string> unmatched_names;  // names in the file with no clip in the data set
  std::vector<std::string> unassigned;       // clips of the data set the file does not name
};

// Reads an upstream cross-validation file (pocovid_cross_val.json: {"0": {"test": [[names], [labels]],
// "train": ...}, ...}) and matches its file names to clips by file name (case-insensitive, extension
// ignored when the exact name is absent). A clip named in two test folds is an error.
ImportedSplit import_cross_val(const std::string& path, const std::vector<ClipRecord>& clips);

// SHA-256 of the canonical JSON of the assignment.
std::string assignment_hash(const std::map<std::string, int>& fold_of);

}  // namespace usbench::datasets
