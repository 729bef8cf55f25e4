// Ingest (README Design §3): discover clips, hash them, decode each once into the frame cache, and build the
// manifest. Nothing is written to the store here: the caller records the returned manifest in one
// transaction, so a failed ingest leaves nothing partial behind.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/clips.h"
#include "datasets/frame_cache.h"
#include "harness/spec/registry.h"
#include "harness/store/store.h"

namespace usbench::datasets {

struct IngestOptions {
  std::string name;                                   // the data set's name in the store
  bool skip_bad = false;                              // list bad clips as skipped instead of failing
  int threads = 0;                                    // decode threads; 0 = one per core
  std::function<void(int done, int total)> progress;  // optional, called from worker threads
};

struct ClassCount {
  int clips = 0;
  long long frames = 0;
};

struct IngestReport {
  DatasetRecord dataset;                        // the manifest to record
  std::map<std::string, ClassCount> per_class;  // "" = unlabelled
  int groups = 0;
  int cache_hits = 0;
  int decoded = 0;
  std::vector<Skipped> skipped;         // expected exclusions
  std::vector<Skipped> bad;             // bad clips left out (only with skip_bad)
  std::vector<std::string> unlabelled;  // clips whose group has no row in the label file
  std::vector<Skipped> rebuilt;         // clips whose cache entry was corrupt or torn and was decoded again (why)
};

// `kind` is a data kind's registry entry (its discovery, sampling and, for generated data, generation) and
// `config` its resolved config. Throws UsageError listing every bad clip (file and reason) unless
// options.skip_bad.
IngestReport ingest(const DatasetInfo& kind, const nlohmann::json& config, const FrameCache& cache,
                    const IngestOptions& options);

// Runs fn(i) for i in [0, n) on `threads` workers; rethrows the first exception after all finish.
void parallel_for(int n, int threads, const std::function<void(int)>& fn);

}  // namespace usbench::datasets
