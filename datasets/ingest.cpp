#include "datasets/ingest.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "datasets/decode.h"
#include "harness/canonical.h"
#include "harness/errors.h"

namespace usbench::datasets {

void parallel_for(int n, int threads, const std::function<void(int)>& fn) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::max(1, std::min(threads, n));
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto worker = [&] {
    for (int i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

namespace {

struct Work {
  ClipSource clip;
  std::string sha256;
  std::string key;
  FrameBlock header;  // frames, source facts, source indices (no pixels)
  bool hit = false;
  std::string rebuilt;  // non-empty: its cache entry existed but was unusable (why), so it was decoded again
  std::string error;    // non-empty: this clip is bad
};

[[noreturn]] void fail_with(const std::vector<Skipped>& bad, const std::string& name) {
  std::string msg = fmt::format("{} bad clip(s) in data set '{}'; nothing was recorded:", bad.size(), name);
  for (const auto& b : bad) msg += "\n  " + b.path + ": " + b.reason;
  msg += "\n(pass --skip-bad to leave them out and list them)";
  throw UsageError(msg);
}

}  // namespace

IngestReport ingest(const DatasetInfo& kind, const nlohmann::json& config, const FrameCache& cache,
                    const IngestOptions& options) {
  const int stored = config.at("stored_size").get<int>();
  const SamplingRule rule = kind.sampling(config);
  IngestReport report;
  std::vector<Work> work;

  Discovery d = kind.discover(config);
  report.skipped = d.skipped;
  report.unlabelled = d.unlabelled;
  report.bad = d.problems;
  for (auto& c : d.clips) {
    Work w;
    w.clip = std::move(c);
    w.sha256 = w.clip.content_id;  // generated clips come with theirs
    work.push_back(std::move(w));
  }
  parallel_for(static_cast<int>(work.size()), options.threads, [&](int i) {
    Work& w = work[static_cast<std::size_t>(i)];
    if (!w.sha256.empty()) return;
    try {
      w.sha256 = clip_sha256(w.clip);
    } catch (const ClipError& e) {
      w.error = e.reason();
    }
  });
  // Duplicate content: the first clip (by id) stays, the later ones are bad.
  std::map<std::string, std::string> first_of;
  for (auto& w : work) {
    if (!w.error.empty()) continue;
    auto [it, fresh] = first_of.emplace(w.sha256, w.clip.clip_id);
    if (!fresh) w.error = "duplicate clip: same content (SHA-256 " + w.sha256.substr(0, 12) + ") as " + it->second;
  }
  if (work.empty()) {
    if (!report.bad.empty()) fail_with(report.bad, options.name);
    throw UsageError("data set '" + options.name + "': no clips found");
  }

  std::atomic<int> done{0};
  const int total = static_cast<int>(work.size());
  parallel_for(total, options.threads, [&](int i) {
    Work& w = work[static_cast<std::size_t>(i)];
    if (!w.error.empty()) return;
    w.key = FrameCache::key(w.sha256, rule.describe(), stored);
    try {
      if (cache.contains(w.key)) {
        w.header = cache.header(w.key);
        w.hit = true;
      }
    } catch (const std::exception& e) {
      w.hit = false;  // a torn, bit-flipped or foreign entry is rebuilt from its source clip
      w.rebuilt = e.what();
    }
    if (!w.hit) {
      try {
        FrameBlock b = kind.generate ? kind.generate(w.clip, config, stored) : decode_clip(w.clip, rule, stored);
        cache.put(w.key, b);
        b.pixels.clear();
        w.header = std::move(b);
      } catch (const ClipError& e) {
        w.error = e.reason();
      }
    }
    if (options.progress) options.progress(++done, total);
  });

  for (const auto& w : work)
    if (!w.error.empty()) report.bad.push_back({w.clip.path.empty() ? w.clip.clip_id : w.clip.path, w.error});
  if (!report.bad.empty() && !options.skip_bad) fail_with(report.bad, options.name);

  DatasetRecord& ds = report.dataset;
  ds.name = options.name;
  ds.kind = kind.name;
  ds.source = config.contains("src") ? config.at("src").get<std::string>() : "";
  ds.config_json = canonical_json(config);
  nlohmann::json manifest = {
      {"kind", kind.name}, {"stored_size", stored}, {"sampling", rule.describe()}, {"clips", nlohmann::json::array()}};
  std::set<std::string> groups;
  for (const auto& w : work) {
    if (!w.error.empty()) continue;
    ClipRecord c;
    c.clip_id = w.clip.clip_id;
    c.path = w.clip.path;
    c.label = w.clip.label;
    c.group = w.clip.group;
    c.n_frames = w.header.frames;
    c.source_fps = w.header.source_fps;
    c.sha256 = w.sha256;
    nlohmann::json sampling = {{"rule", rule.describe()},
                               {"stored_size", stored},
                               {"cache_key", w.key},
                               {"kind", to_string(w.clip.kind)},
                               {"source_frames", w.header.source_frames}};
    c.sampling = canonical_json(sampling);
    manifest["clips"].push_back({{"clip_id", c.clip_id},
                                 {"label", c.label},
                                 {"group", c.group},
                                 {"n_frames", c.n_frames},
                                 {"sha256", c.sha256}});
    auto& count = report.per_class[c.label];
    ++count.clips;
    count.frames += c.n_frames;
    groups.insert(c.group);
    report.cache_hits += w.hit;
    report.decoded += !w.hit;
    if (!w.rebuilt.empty()) report.rebuilt.push_back({c.clip_id, w.rebuilt});
    ds.clips.push_back(std::move(c));
  }
  if (ds.clips.empty()) throw UsageError("data set '" + options.name + "': every clip was bad; nothing was recorded");
  report.groups = static_cast<int>(groups.size());
  ds.manifest_hash = content_hash(manifest);
  return report;
}

}  // namespace usbench::datasets
