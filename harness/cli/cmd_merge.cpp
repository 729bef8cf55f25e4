// usbench merge A.db B.db ... --out C.db: combines the databases of shards (`usbench run --shard I/N`,
// e.g. one per Slurm array task) into one store that `report` and `check` read like a single run's.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/store/store.h"

namespace usbench::cli {

void add_merge_command(CLI::App& app) {
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* merge = app.add_subcommand("merge", "Merge store shards into one database");
  merge->add_option("INPUTS", *inputs, "Store files to merge (each is only read)")->required();
  merge->add_option("--out", *out, "Merged store (created when missing; runs already in it are kept)")->required();
  merge->footer(
      "Each input merges in its own transaction, after every input has been checked to be a usbench store at this "
      "schema version. An input whose data sets or splits contradict the output (other clips or folds under the same "
      "name) is refused with nothing of it written; inputs named before it stay merged. Merging is idempotent.\n"
      "Artifact paths (checkpoints, exported backbones) are copied as recorded; the files stay where the shard wrote "
      "them, so shards should share --work-dir.");
  merge->callback([=] {
    namespace fs = std::filesystem;
    for (const auto& in : *inputs) {
      if (!fs::exists(in)) throw UsageError(in + ": no such store");
      Store::verify(in);
    }
    auto store = Store::open(*out, Store::Access::Create);
    int added = 0, replaced = 0, present = 0;
    for (const auto& in : *inputs) {
      const auto c = store.merge_from(in);
      fmt::print(
          "{}: {} runs added, {} replaced (unfinished here, done there), {} already present; {} data sets added\n", in,
          c.runs_added, c.runs_replaced, c.runs_present, c.datasets_added);
      added += c.runs_added;
      replaced += c.runs_replaced;
      present += c.runs_present;
    }
    fmt::print("merged {} stores into {}: {} runs added, {} replaced, {} already present\n", inputs->size(), *out,
               added, replaced, present);
  });
}

}  // namespace usbench::cli
