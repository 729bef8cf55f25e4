// Frames in memory and the batch loader (README Design §3, §11).
//
// FrameSet holds one data set's frames at their stored size (uint8, the cache layout): the only copy a
// run keeps in memory. Loader computes batches on background threads and hands them out in order; the
// content of batch b depends only on (seed, epoch, b), never on which thread made it or when, so the
// batch sequence is identical for any number of threads.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datasets/augment.h"
#include "datasets/frame_cache.h"
#include "harness/store/store.h"

namespace usbench::datasets {

struct FrameSet {
  torch::Tensor frames;                // uint8 [F, H, W, 3]: on the CPU, or on the run's CUDA device when they
                                       // fit there (batches are then cut and augmented on the device)
  std::vector<int> clip_of;            // frame -> clip position in clip_ids
  std::vector<int> frame_in_clip;      // frame -> index within its clip
  std::vector<std::int64_t> label_of;  // frame -> class index, -1 when unlabelled
  std::vector<std::string> clip_ids;
  std::vector<int> clip_first, clip_frames;  // per clip: first frame, frame count
  std::vector<std::string> classes;

  std::int64_t size() const { return static_cast<std::int64_t>(clip_of.size()); }
  // Frame indices of the given clip positions, in clip order.
  std::vector<std::int64_t> frames_of_clips(const std::vector<int>& clips) const;

  // Loads `clip_ids` (all clips when empty) of a recorded data set from the cache. `classes` fixes the
  // label indices (labels outside it are errors naming the clip; "" is unlabelled). Throws UsageError
  // naming the cache file when an entry is missing or damaged (re-run usbench ingest).
  static FrameSet load(const DatasetRecord& dataset, const FrameCache& cache, const std::vector<std::string>& classes,
                       const std::vector<std::string>& clip_ids = {});
};

struct Batch {
  int index = 0;
  torch::Tensor images;              // float [B, 3, S, S], normalised (or uint8 [B, H, W, 3] when raw)
  torch::Tensor labels;              // int64 [B]
  std::vector<std::int64_t> frames;  // FrameSet frame index of each item
};

template <class T>
class OrderedLoader {
 public:
  // Makes batches 0..num_batches-1 with `make` on `threads` workers (0 = compute in next()), at most
  // `prefetch` ahead of the consumer.
  OrderedLoader(int num_batches, std::function<T(int)> make, int threads, int prefetch = 4)
      : num_batches_(num_batches), make_(std::move(make)), prefetch_(std::max(1, prefetch)) {
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }
  ~OrderedLoader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  OrderedLoader(const OrderedLoader&) = delete;
  OrderedLoader& operator=(const OrderedLoader&) = delete;

  // The next batch in order, or nullopt at the end. Rethrows a worker's exception.
  std::optional<T> next() {
    if (workers_.empty()) {
      if (next_to_give_ >= num_batches_) return std::nullopt;
      return make_(next_to_give_++);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (next_to_give_ >= num_batches_) return std::nullopt;
    cv_.wait(lock, [&] { return error_ || ready_.count(next_to_give_) > 0; });
    if (error_) std::rethrow_exception(error_);
    auto node = ready_.extract(next_to_give_);
    ++next_to_give_;
    lock.unlock();
    cv_.notify_all();
    return std::move(node.mapped());
  }
  int num_batches() const { return num_batches_; }

 private:
  void work() {
    for (;;) {
      int b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock,
                 [&] { return stop_ || (next_to_make_ < num_batches_ && next_to_make_ < next_to_give_ + prefetch_); });
        if (stop_) return;
        b = next_to_make_++;
      }
      try {
        T batch = make_(b);
        std::lock_guard<std::mutex> lock(mu_);
        ready_.emplace(b, std::move(batch));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
      cv_.notify_all();
    }
  }
  int num_batches_;
  std::function<T(int)> make_;
  int prefetch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, T> ready_;
  int next_to_make_ = 0, next_to_give_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

using Loader = OrderedLoader<Batch>;

// A frame-level batch source for supervised training and evaluation: the epoch's order is a shuffle
// of `frames` drawn from (seed, epoch) (or kept as given), and each batch's augmentation parameters come
// from (seed, epoch, batch index). `augment_on_cpu` false returns raw uint8 batches with their
// parameters applied later on the device (see make_params).
struct FrameBatches {
  const FrameSet* set = nullptr;
  std::vector<std::int64_t> order;  // this epoch's frame order
  int batch_size = 32;
  AugmentConfig augment;
  std::uint64_t seed = 0;
  int epoch = 0;

  static FrameBatches make(const FrameSet& set, std::vector<std::int64_t> frames, int batch_size, bool shuffle,
                           const AugmentConfig& augment, std::uint64_t seed, int epoch);
  int num_batches() const;
  std::vector<ImageParams> params(int b) const;  // deterministic in (seed, epoch, b)
  Batch raw(int b) const;                        // uint8 images, labels, frame indices
  Batch augmented(int b) const;                  // raw + augment() on the CPU
};

}  // namespace usbench::datasets
