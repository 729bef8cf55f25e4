#include "harness/run/knn_monitor.h"

namespace usbench {

namespace F = torch::nn::functional;

double knn_accuracy(const torch::Tensor& bank, const std::vector<std::int64_t>& bank_labels,
                    const torch::Tensor& queries, const std::vector<std::int64_t>& query_labels, int k,
                    double temperature) {
  TORCH_CHECK(bank.size(0) == static_cast<std::int64_t>(bank_labels.size()) &&
                  queries.size(0) == static_cast<std::int64_t>(query_labels.size()),
              "knn_accuracy: one label per row");
  if (queries.size(0) == 0 || bank.size(0) == 0) return 0.0;
  const auto b = F::normalize(bank.to(torch::kFloat32).cpu(), F::NormalizeFuncOptions().dim(1));
  const auto q = F::normalize(queries.to(torch::kFloat32).cpu(), F::NormalizeFuncOptions().dim(1));
  const auto sim = torch::matmul(q, b.t());
  const auto top = sim.topk(std::min<std::int64_t>(k, b.size(0)), 1);
  const auto values = std::get<0>(top).contiguous(), index = std::get<1>(top).contiguous();
  const auto va = values.accessor<float, 2>();
  const auto ia = index.accessor<std::int64_t, 2>();
  std::int64_t classes = 0;
  for (auto l : bank_labels) classes = std::max(classes, l + 1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < q.size(0); ++i) {
    std::vector<double> votes(static_cast<std::size_t>(classes), 0.0);
    for (std::int64_t j = 0; j < values.size(1); ++j)
      votes[static_cast<std::size_t>(bank_labels[static_cast<std::size_t>(ia[i][j])])] +=
          std::exp(va[i][j] / temperature);
    const auto best = std::max_element(votes.begin(), votes.end()) - votes.begin();
    correct += best == query_labels[static_cast<std::size_t>(i)];
  }
  return static_cast<double>(correct) / static_cast<double>(q.size(0));
}

std::optional<double> knn_monitor(ResNetImpl& backbone, const datasets::FrameSet& clips, const std::vector<int>& train,
                                  const std::vector<int>& heldout, int input_size, const torch::Device& device) {
  auto middle_frames = [&](const std::vector<int>& part, std::vector<std::int64_t>& labels) {
    std::vector<std::int64_t> frames;
    for (int c : part) {
      const auto first = clips.clip_first[static_cast<std::size_t>(c)];
      const auto label = clips.label_of[static_cast<std::size_t>(first)];
      if (label < 0) continue;
      frames.push_back(first + clips.clip_frames[static_cast<std::size_t>(c)] / 2);
      labels.push_back(label);
    }
    return frames;
  };
  std::vector<std::int64_t> bank_labels, query_labels;
  const auto bank_frames = middle_frames(train, bank_labels), query_frames = middle_frames(heldout, query_labels);
  if (bank_frames.empty() || query_frames.empty()) return std::nullopt;
  datasets::AugmentConfig test;
  test.out_size = input_size;
  auto features = [&](const std::vector<std::int64_t>& frames) {
    torch::InferenceMode guard;
    std::vector<torch::Tensor> out;
    const auto fb = datasets::FrameBatches::make(clips, frames, 64, false, test, 0, 0);
    for (int b = 0; b < fb.num_batches(); ++b)
      out.push_back(backbone.features(datasets::to_device(fb.augmented(b).images, device)));
    return torch::cat(out);
  };
  const bool was_training = backbone.is_training();
  backbone.eval();
  const double acc = knn_accuracy(features(bank_frames), bank_labels, features(query_frames), query_labels);
  backbone.train(was_training);
  return acc;
}

}  // namespace usbench
