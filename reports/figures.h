// Figures of a comparison for a paper, as standalone SVG documents drawn from the ComparisonTable only
// (so from the store): no plotting library, plain SVG 1.1 that browsers, Inkscape and LaTeX (via
// svg/inkscape or rsvg-convert) read. Sizes are given in inches for a two-column paper: 3.5 in for one
// column (forest plot, learning curves, confusion matrices), 7 in across both (per-fold bars).
#pragma once
#include <string>
#include <vector>

#include "reports/comparison.h"

namespace usbench::reports {

struct Figure {
  std::string file_name;  // e.g. "forest.svg"
  std::string caption;    // one sentence: what is plotted and how
  std::string svg;        // a whole document, starting with the XML declaration
};

// The figures there is data for, in this order:
//  forest.svg            per method row, pooled accuracy under each epoch selection (best on test, last,
//                        best on validation) with its 95% clip-bootstrap interval; the paper's figure
//                        as an open diamond where it reports one;
//  per_fold.svg          val-selected accuracy of every fold, one bar per method row, values printed;
//  curves_<protocol>.svg test accuracy by epoch, mean over folds with a band of +- one standard
//                        deviation over folds, per method row;
//  pretraining.svg       held-out contrastive loss of each pretraining by epoch;
//  confusion.svg         val-selected confusion matrix of every method row, pooled over folds: counts,
//                        shaded by the share of the true class;
// then the other recorded curves in the same form: val_accuracy_<protocol>.svg, train_loss_<protocol>.svg,
// pretraining_knn.svg, pretraining_loss.svg. <protocol> is the label with characters other than letters,
// digits, '-', '_', '.' replaced by '_'.
std::vector<Figure> make_figures(const ComparisonTable& t);

// Text escaped for XML character data and attribute values.
std::string xml_escape(const std::string& s);

// Axis ticks at a "nice" step (1, 2 or 5 x 10^k) covering [lo, hi], about `target` of them; with
// `integers` the step is at least 1 (epochs).
std::vector<double> nice_ticks(double lo, double hi, int target = 5, bool integers = false);

}  // namespace usbench::reports
