// uscl-paper-val: uscl-paper's training (harness/run/protocol_uscl_paper.cpp) with a validation part carved
// from the training folds by clip (20%), the epoch selected on it: the honest twin of the paper's
// best-on-test figure. The fit sees 80% of the training folds, the one difference from the authors'.
#include "harness/run/protocols.h"

namespace usbench {

std::vector<ReferenceSetting> uscl_paper_reference();  // protocol_uscl_paper.cpp

ProtocolInfo uscl_paper_val_protocol() {
  ProtocolInfo p = downstream_protocol(Stage::Finetune,
                                       "uscl-paper's training with a 20% validation part (by clip) selecting the epoch",
                                       DownstreamConfig{}, DownstreamShape{/*validation_part=*/true, HeadFit::Epochs});
  p.name = "uscl-paper-val";
  p.trains = TrainedPart::Layer4Block1AndHead;
  p.reference = uscl_paper_reference();
  p.reference.push_back(
      {"val_fraction", 0.0, "eval_pretrained_model/eval_pretrained_model.py fits on all training folds"});
  return p;
}

}  // namespace usbench
