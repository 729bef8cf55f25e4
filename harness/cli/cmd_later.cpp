// Subcommands whose options are fixed by DESIGN §8 but whose capabilities land with a later issue.
// They say so plainly and exit 2, so no script mistakes them for working commands.
#include "harness/cli/commands.h"
#include "harness/errors.h"

namespace usbench::cli {

namespace {
struct LaterOptions {
  std::string out;
  std::vector<std::string> inputs;
};

void not_yet(CLI::App* cmd, const std::string& what, const std::string& issue) {
  const std::string name = cmd->get_name();
  cmd->callback([name, what, issue] {
    throw UsageError("usbench " + name + ": not available in this build — " + what + " lands with issue " + issue +
                     ". Nothing was read or written.");
  });
}
}  // namespace

void add_later_commands(CLI::App& app) {
  auto o = std::make_shared<LaterOptions>();

  auto* merge = app.add_subcommand("merge", "Merge store shards into one database");
  merge->add_option("INPUTS", o->inputs, "Store files to merge")->required();
  merge->add_option("--out", o->out, "Merged store")->required();
  not_yet(merge, "store merging", "#5");
}

}  // namespace usbench::cli
