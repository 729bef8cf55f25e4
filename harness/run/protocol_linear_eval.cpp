// linear-eval: the USCL authors' linear evaluation (train_USCL/linear_eval.py): the frozen backbone in eval
// mode, its pooled features of every frame computed once from the image scaled to [0, 1] (no mean/std
// normalisation, as linear_eval.py's X / 255), standardised with the mean and SD of the fit frames
// (scikit-learn's StandardScaler), then a multinomial logistic regression with L2 penalty, C = 1, solved to
// convergence (L-BFGS, harness/run/logistic_regression.h; checked against scikit-learn's answer in
// tests/test_authors_reference.cpp), fitted on all training folds. One fit, one figure per run.
#include "harness/run/protocols.h"

namespace usbench {

ProtocolInfo linear_eval_protocol() {
  DownstreamConfig d;
  d.input_mean = 0;
  d.input_std = 1;
  ProtocolInfo p =
      downstream_protocol(Stage::Probe,
                          "the USCL authors' linear evaluation: frozen pooled features standardised, "
                          "multinomial logistic regression (L2, C = 1) to convergence, on all training folds",
                          d, DownstreamShape{/*validation_part=*/false, HeadFit::LogisticRegression});
  p.name = "linear-eval";
  p.trains = TrainedPart::Head;
  p.cached_features = true;
  const std::string src = "train_USCL/linear_eval.py";
  p.reference = {{"C", 1.0, src + " LogisticRegression(C=1.0, solver='lbfgs', max_iter=1200)"},
                 {"input_mean", 0.0, src + " X / 255, no normalisation"},
                 {"input_std", 1.0, src + " X / 255, no normalisation"},
                 {"input_size", 224, src + " the 224 px frames of covid_data*.pkl"}};
  return p;
}

}  // namespace usbench
