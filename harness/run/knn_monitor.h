// The pretraining monitor (issue 10; solo-learn's weighted kNN): whether a backbone's features separate the
// pretraining set's own labels, without touching the downstream data. It never selects a checkpoint.
#pragma once
#include <optional>
#include <vector>

#include "datasets/loader.h"
#include "harness/model/resnet.h"

namespace usbench {

// Weighted k-nearest-neighbour accuracy of `queries` against a memory `bank` (rows are feature vectors;
// labels >= 0): cosine similarity, the k most similar bank rows (k capped at the bank's size) vote for
// their label with weight exp(similarity / temperature); ties go to the lower label. Returns the fraction
// of queries whose vote is their own label.
double knn_accuracy(const torch::Tensor& bank, const std::vector<std::int64_t>& bank_labels,
                    const torch::Tensor& queries, const std::vector<std::int64_t>& query_labels, int k = 20,
                    double temperature = 0.07);

// The monitor of one epoch: pooled eval-mode features of each labelled clip's middle frame (resized to
// `input_size`, the protocol's normalisation), bank = the labelled clips of `train`, queries = those of
// `heldout`. nullopt when either side has no labelled clip.
std::optional<double> knn_monitor(ResNetImpl& backbone, const datasets::FrameSet& clips, const std::vector<int>& train,
                                  const std::vector<int>& heldout, int input_size, const torch::Device& device);

}  // namespace usbench
