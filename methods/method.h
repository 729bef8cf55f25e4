// The method interface, part 1: each pretraining/initialisation method declares its name, version,
// defaults and validation through a MethodInfo (harness/spec/registry.h). One file per method. Part 2,
// the training step of the methods that pretrain, is methods/pretrainer.h (make_pretrainer).
#pragma once
#include "harness/spec/registry.h"

namespace usbench::methods {

MethodInfo uscl_method();
MethodInfo simclr_method();
MethodInfo moco_method();
MethodInfo imagenet_method();
MethodInfo random_method();
MethodInfo checkpoint_method();

// Adds every built-in method; called once from main (no static registration).
void register_methods(Registry<MethodInfo>& registry);

}  // namespace usbench::methods
