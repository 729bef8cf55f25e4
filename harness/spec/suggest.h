// "Did you mean ...": nearest names by edit distance, used for unknown config keys, registry names and
// CLI subcommands.
#pragma once
#include <string>
#include <vector>

namespace usbench {

// Levenshtein distance with adjacent transpositions counted as one edit (so "epohcs" -> "epochs" is 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

// Candidates within a distance that scales with the length of `name` (at most max(2, len/3)), closest
// first, ties in input order. Case-insensitive. Empty when nothing is plausibly meant.
std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       std::size_t max_results = 3);

// " (did you mean 'x' or 'y'?)" or "" when there is no plausible candidate.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace usbench
