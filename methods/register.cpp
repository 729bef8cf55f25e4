#include "methods/method.h"

namespace usbench::methods {

void register_methods(Registry<MethodInfo>& registry) {
  registry.add(uscl_method());
  registry.add(simclr_method());
  registry.add(moco_method());
  registry.add(imagenet_method());
  registry.add(random_method());
  registry.add(checkpoint_method());
}

}  // namespace usbench::methods
