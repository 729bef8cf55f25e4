// full-finetune: every layer trains, at a tenth of uscl-paper's rate so that a pretrained trunk is not
// erased (our protocol; the paper has none).
#include "harness/run/protocols.h"

namespace usbench {

ProtocolInfo full_finetune_protocol() {
  DownstreamConfig d;
  d.lr = 1e-3;
  ProtocolInfo p = downstream_protocol(Stage::Finetune, "all layers train (Adam lr 1e-3, cosine)", d);
  p.name = "full-finetune";
  p.trains = TrainedPart::All;
  return p;
}

}  // namespace usbench
