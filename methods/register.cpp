#include "methods/method.h"

namespace usbench::methods {

// One per method file.
MethodInfo uscl_method();
MethodInfo simclr_method();
MethodInfo moco_method();
MethodInfo imagenet_method();
MethodInfo random_method();
MethodInfo checkpoint_method();

void register_methods(Registry<MethodInfo>& registry) {
  registry.add(uscl_method());
  registry.add(simclr_method());
  registry.add(moco_method());
  registry.add(imagenet_method());
  registry.add(random_method());
  registry.add(checkpoint_method());
}

}  // namespace usbench::methods
