#include "harness/run/checkpoint.h"

#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/output_file.h"

namespace usbench {

namespace fs = std::filesystem;

void commit_checkpoint(const RunContext& ctx, torch::serialize::OutputArchive& archive, const std::string& path,
                       int epoch) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  // Recorded before the rename: a file under its final name is always one the store knows. A kill between
  // the two leaves the previous file with a newer record; the mismatch restarts the run, never resumes it.
  write_file_atomically(path, bytes.str(), [&](const FileDigest& d) {
    ctx.store->put_checkpoint(ctx.run.id, epoch, path, d.sha256, d.bytes);
  });
}

bool resumable_checkpoint(const RunContext& ctx, const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  const auto recorded = ctx.store->checkpoint(ctx.run.id);
  std::string why;
  if (!recorded) {
    why = "this store has no record of it (left by another store or an older usbench?)";
  } else if (fs::path(recorded->path) != fs::path(path)) {
    why = "the store records the checkpoint at " + recorded->path;
  } else {
    const auto actual = sha256_file(path);
    if (actual != recorded->sha256)
      why = fmt::format("its SHA-256 {} differs from the one recorded after epoch {} ({}): the file changed",
                        actual.substr(0, 16), recorded->epoch, recorded->sha256.substr(0, 16));
  }
  if (why.empty()) return true;
  if (ctx.log)
    ctx.log(fmt::format("not resuming {} from {}: {}; starting the run again from epoch 0", ctx.run.id.substr(0, 12),
                        path, why));
  fs::remove(path, ec);
  ctx.store->drop_checkpoint(ctx.run.id);
  return false;
}

}  // namespace usbench
