// Contrastive losses as pure functions on tensors (README Design §5).
#pragma once
#include "harness/torch_pch.h"

namespace usbench::methods {

// NT-Xent (SimCLR; the USCL reference's NTXentLoss): z1, z2 [N, D] are the two views of N items. Over
// the 2N views, each view's positive is its partner and its negatives are the other 2N - 2 views;
// similarity is cosine / temperature; the loss is the mean cross-entropy over the 2N views
// (the reference's sum / 2N).
torch::Tensor nt_xent(const torch::Tensor& z1, const torch::Tensor& z2, double temperature);

// MoCo (InfoNCE with a queue): q, k [N, D] query and key embeddings (normalised here), queue [K, D] of
// normalised negatives. logits = [q.k, q.queue^T] / temperature; label 0; mean cross-entropy.
// `excluded` [N, K] bool (optional): queue entries that are not negatives of query i (MoCo here: keys of
// the query's own clip, which are positives in all but name).
torch::Tensor moco_loss(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& queue, double temperature,
                        const torch::Tensor& excluded = {});

}  // namespace usbench::methods
