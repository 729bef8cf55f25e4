// linear-probe: a frozen backbone in eval mode, its features computed once (test transform), a linear
// head trained by Adam with a cosine schedule (our protocol).
#include "harness/run/protocols.h"

namespace usbench {

ProtocolInfo linear_probe_protocol() {
  DownstreamConfig d;
  d.batch_size = 256;
  ProtocolInfo p = downstream_protocol(Stage::Probe, "frozen backbone, cached features, linear head (Adam, cosine)", d);
  p.name = "linear-probe";
  p.trains = TrainedPart::Head;
  p.cached_features = true;
  return p;
}

}  // namespace usbench
