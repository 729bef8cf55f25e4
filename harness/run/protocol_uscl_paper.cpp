// uscl-paper: the USCL authors' evaluation (eval_pretrained_model/eval_pretrained_model.py), step for step:
// a new head Linear(512, 3) (main() also makes a Linear(3, 3) as net.fc, but ResNetUSCL.forward never calls
// it: it gets no gradient and never changes), only layer4.1 and the head train, BatchNorm everywhere stays
// in training mode, Adam 0.01 / wd 1e-4, cosine over 100 epochs, batch 32, 224 px, fitted on all the
// training folds; the test fold is evaluated every epoch, the paper reports the best one (optimistic,
// labelled so) and the last epoch is the figure without selection. tests/test_authors_reference.cpp
// compares one short fine-tuning with what the authors' main() computes.
#include "harness/run/protocols.h"
#include "harness/store/results_schema.h"

namespace usbench {

// The authors' settings, shared with uscl-paper-val (harness/run/protocol_uscl_paper_val.cpp).
std::vector<ReferenceSetting> uscl_paper_reference() {
  const std::string src = "eval_pretrained_model/eval_pretrained_model.py";
  return {{"epochs", 100, src + " MAX_EPOCH"},
          {"batch_size", 32, src + " BATCH_SIZE"},
          {"lr", 0.01, src + " LR (Adam)"},
          {"weight_decay", 1e-4, src + " weight_decay"},
          {"input_size", 224, src + " transforms.Resize((224, 224))"},
          {"input_mean", 0.5, src + " Normalize(mean=[0.5,0.5,0.5])", DownstreamConfig{}.input_mean},
          {"input_std", 0.25, src + " Normalize(std=[0.25,0.25,0.25])", DownstreamConfig{}.input_std}};
}

ProtocolInfo uscl_paper_protocol() {
  ProtocolInfo p =
      downstream_protocol(Stage::Finetune,
                          "the USCL authors' evaluation: layer4.1 + a new 512-3 head train on all training "
                          "folds, Adam, cosine; best epoch on test (as the paper, optimistic) and last epoch",
                          DownstreamConfig{}, DownstreamShape{/*validation_part=*/false, HeadFit::Epochs});
  p.name = "uscl-paper";
  // 2: fitted on all training folds (was: 80%, with a validation part); selections best_test and last.
  p.version = 2;
  p.trains = TrainedPart::Layer4Block1AndHead;
  // The USCL paper (MICCAI 2021), POCUS late-2020 (2,116 frames), best epoch on the test fold.
  p.paper_figures = {{"uscl", "94.19%"}, {"imagenet", "about 84%"}};
  p.paper_figure_title = "paper (POCUS late-2020, best epoch on test)";
  p.reference = uscl_paper_reference();
  return p;
}

}  // namespace usbench
