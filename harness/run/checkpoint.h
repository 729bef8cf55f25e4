// Resume checkpoints of a run (README Design §7). A checkpoint is written atomically (write_file_atomically)
// and then recorded in the store with its SHA-256 and size; a run resumes only from a file that the
// store records for that run with the same hash. Anything else (bit rot, a file left in a shared
// --work-dir by another store, a torn copy) is named in the log, removed, and the run starts again
// from epoch 0, so the store always holds every epoch's metrics of the run it reports.
#pragma once
#include <string>

#include "harness/run/run_context.h"

namespace usbench {

// Serialises `archive` to `path` and records it as the run's checkpoint after `epoch`.
void commit_checkpoint(const RunContext& ctx, torch::serialize::OutputArchive& archive, const std::string& path,
                       int epoch);

// True when `path` exists and is the checkpoint the store records for ctx.run. When the file exists but
// is not, logs why, removes it and returns false.
bool resumable_checkpoint(const RunContext& ctx, const std::string& path);

}  // namespace usbench
