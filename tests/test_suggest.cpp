#include <catch2/catch.hpp>

#include "harness/spec/suggest.h"

using namespace usbench;

TEST_CASE("edit distance counts insertions, deletions, substitutions and transpositions", "[unit]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("epohcs", "epochs") == 1);  // one adjacent transposition
  CHECK(edit_distance("lr", "rl") == 1);
  CHECK(edit_distance("same", "same") == 0);
}

TEST_CASE("closest names rank by distance and drop implausible candidates", "[unit]") {
  const std::vector<std::string> keys = {"epochs", "batch_size", "lr", "weight_decay"};
  CHECK(closest_names("epohcs", keys) == std::vector<std::string>{"epochs"});
  CHECK(closest_names("batchsize", keys) == std::vector<std::string>{"batch_size"});
  CHECK(closest_names("zzzzzzzzzz", keys).empty());
  CHECK(did_you_mean("epohcs", keys) == " (did you mean 'epochs'?)");
  CHECK(did_you_mean("qqqqqqqq", keys).empty());
  CHECK(closest_names("EPOCHS", keys).empty());  // exact (case-insensitive) matches are not suggestions
}
