// Data path throughput: loader + augmentation images/s at 224 and 64 px on CPU (pretraining-style
// augmentation: random crop, flip, colour jitter, normalise), with 0 (inline), 1 and 2 worker threads,
// and ingest frames/s (decode + resize + cache write) on real POCUS when ../shared/data is present,
// else on the synthetic generator. Run: build/tests/bench/bench_data
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>

#include "datasets/dataset_config.h"
#include "datasets/ingest.h"
#include "datasets/loader.h"
#include "harness/cli/builtins.h"

namespace {

namespace fs = std::filesystem;
using namespace usbench;
using namespace usbench::datasets;

const Registries& registries() {
  static const Registries r = [] {
    Registries x;
    cli::register_builtins(x);
    return x;
  }();
  return r;
}

fs::path scratch(const std::string& name) {
  const auto p = fs::temp_directory_path() / ("usbench-bench-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(p);
  return p;
}

// One synthetic set per size, generated once.
const FrameSet& frames_at(int size) {
  static std::map<int, FrameSet> sets;
  auto it = sets.find(size);
  if (it != sets.end()) return it->second;
  const auto cfg = registries()
                       .datasets.get("synthetic")
                       .resolve({{"clips_per_class", 8}, {"frames_per_clip", 8}, {"stored_size", size}}, "bench", "d");
  IngestOptions o;
  o.name = "synthetic";
  const FrameCache cache(scratch("cache-" + std::to_string(size)).string());
  const auto rep = ingest(registries().datasets.get("synthetic"), cfg, cache, o);
  return sets.emplace(size, FrameSet::load(rep.dataset, cache, {"covid", "pneumonia", "regular"})).first->second;
}

void BM_LoaderAugment(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0)), threads = static_cast<int>(state.range(1));
  const FrameSet& set = frames_at(size);
  AugmentConfig aug;
  aug.out_size = size;
  aug.random_crop = aug.flip = aug.color_jitter = true;
  std::vector<std::int64_t> all(static_cast<std::size_t>(set.size()));
  std::iota(all.begin(), all.end(), 0);
  int epoch = 0;
  std::int64_t images = 0;
  for (auto _ : state) {
    const auto fb = FrameBatches::make(set, all, 32, true, aug, 1, epoch++);
    Loader loader(
        fb.num_batches(), [&fb](int b) { return fb.augmented(b); }, threads, 4);
    while (auto b = loader.next()) {
      images += b->images.size(0);
      benchmark::DoNotOptimize(b->images.data_ptr<float>());
    }
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LoaderAugment)->ArgsProduct({{64, 224}, {0, 1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Ingest(benchmark::State& state) {
  const bool cached = state.range(0) == 1;
  const fs::path pocus = fs::path(USBENCH_SOURCE_DIR) / ".." / "shared" / "data" / "pocus";
  const bool real = fs::is_directory(pocus);
  const std::string kind = real ? "pocus" : "synthetic";
  const nlohmann::json user =
      real ? nlohmann::json{{"src", pocus.string()}}
           : nlohmann::json{{"clips_per_class", 30}, {"frames_per_clip", 10}, {"stored_size", 224}};
  const auto cfg = registries().datasets.get(kind).resolve(user, "bench", "d");
  const auto dir = scratch("ingest");
  IngestOptions o;
  o.name = kind;
  if (cached) ingest(registries().datasets.get(kind), cfg, FrameCache(dir.string()), o);  // warm the cache once
  long long frames = 0;
  for (auto _ : state) {
    if (!cached) fs::remove_all(dir);
    const auto r = ingest(registries().datasets.get(kind), cfg, FrameCache(dir.string()), o);
    for (const auto& [label, c] : r.per_class) frames += c.frames;
  }
  fs::remove_all(dir);
  state.SetLabel(real ? "POCUS (public subset), 224 px" : "synthetic, 224 px (../shared/data absent)");
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Ingest)->Arg(0)->Arg(1)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
