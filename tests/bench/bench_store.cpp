// Store write throughput: per-epoch metric batches in one transaction (what the trainer does) against
// one transaction per metric, and the heartbeat write. Run: build/tests/bench/bench_store
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "harness/store/store.h"

namespace {

namespace fs = std::filesystem;

struct ScratchStore {
  fs::path path = fs::temp_directory_path() / ("usbench-bench-" + std::to_string(::getpid()) + ".db");
  usbench::Store store = open();
  usbench::Store open() {
    fs::remove(path);
    auto s = usbench::Store::open(path.string(), usbench::Store::Access::Create);
    usbench::RunRecord r;
    r.id = "bench";
    r.experiment = "bench";
    r.method = "m";
    r.stage = usbench::Stage::Finetune;
    s.create_run(r, {});
    return s;
  }
  ~ScratchStore() {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  }
};

// 16 metrics per epoch, written as one transaction.
void BM_MetricsBatchedPerEpoch(benchmark::State& state) {
  ScratchStore s;
  std::map<std::string, double> values;
  for (int i = 0; i < 16; ++i) values["metric_" + std::to_string(i)] = i;
  int epoch = 0;
  for (auto _ : state) s.store.put_metrics("bench", epoch++, "train", values);
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_MetricsBatchedPerEpoch);

// The same 16 metrics, one transaction each.
void BM_MetricsOneTransactionEach(benchmark::State& state) {
  ScratchStore s;
  int epoch = 0;
  for (auto _ : state) {
    for (int i = 0; i < 16; ++i) s.store.put_metric("bench", epoch, "train", "metric_" + std::to_string(i), i);
    ++epoch;
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_MetricsOneTransactionEach);

void BM_Heartbeat(benchmark::State& state) {
  ScratchStore s;
  for (auto _ : state) s.store.heartbeat("bench");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Heartbeat);

}  // namespace
