// uscl-paper: the USCL authors' evaluation (eval_pretrained_model/eval_pretrained_model.py): only layer4.1
// and a new head train, BatchNorm everywhere stays in training mode, Adam 0.01 / wd 1e-4, cosine over 100
// epochs, batch 32, 224 px; the test fold is evaluated every epoch and the paper reports the best one.
#include "harness/run/protocols.h"

namespace usbench {

ProtocolInfo uscl_paper_protocol() {
  ProtocolInfo p =
      downstream_protocol(Stage::Finetune,
                          "USCL reference evaluation: train layer4.1 + new head, Adam, cosine; best-epoch on test "
                          "reported as optimistic, beside last-epoch and validation-selected figures",
                          DownstreamConfig{});
  p.name = "uscl-paper";
  p.trains = TrainedPart::Layer4Block1AndHead;
  // The USCL paper (MICCAI 2021), POCUS late-2020 (2,116 frames), best epoch on the test fold.
  p.paper_figures = {{"uscl", "94.19%"}, {"imagenet", "about 84%"}};
  p.paper_figure_title = "paper (POCUS late-2020, best epoch on test)";
  return p;
}

}  // namespace usbench
