// The results schema: every metric a run records in the store (table `metrics`: run, epoch, split, name,
// value) and the epoch selections, spelt once here for the code that writes them (harness/run/) and the
// code that reads them (reports/). A metric is (split, name) at an epoch >= 0; selections are the split
// "selection" at epoch -1, whose value is the selected epoch.
#pragma once

namespace usbench::results {

namespace split {
inline constexpr const char* kTrain = "train";          // the epoch's training pass
inline constexpr const char* kVal = "val";              // the validation part carved from the training folds
inline constexpr const char* kTest = "test";            // the test fold
inline constexpr const char* kHeldout = "heldout";      // a pretraining's held-out clips
inline constexpr const char* kSelection = "selection";  // epoch -1: which epoch each rule selects
}  // namespace split

namespace metric {
// Downstream train / val / test, and pretraining train: the mean cross-entropy (downstream) or the
// method's total loss (pretraining) over the epoch's frames or steps.
inline constexpr const char* kLoss = "loss";
inline constexpr const char* kAccuracy = "accuracy";  // frames predicted right / frames (downstream)
inline constexpr const char* kLr = "lr";              // the learning rate the epoch ran at (train)
inline constexpr const char* kImagesPerS =
    "images_per_s";  // throughput of the training pass (a measurement, not a result)
inline constexpr const char* kContrastive =
    "contrastive";                        // a pretraining's contrastive term (train; held-out: selects the checkpoint)
inline constexpr const char* kCe = "ce";  // USCL's semi-supervised cross-entropy term (train)
inline constexpr const char* kKnnAccuracy =
    "knn_accuracy";  // held-out clips' kNN accuracy against the training clips (monitor only)
}  // namespace metric

// Epoch selections of a downstream run (split "selection", epoch -1, value = the epoch).
namespace selection {
inline constexpr const char* kBestTest =
    "best_test";                                     // the best epoch on the test fold: the paper's (optimistic) choice
inline constexpr const char* kLast = "last";         // the last epoch: no selection
inline constexpr const char* kBestVal = "best_val";  // the best epoch on the validation part: the honest choice
}  // namespace selection

}  // namespace usbench::results
