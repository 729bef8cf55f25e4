// The method interface, part 1: each pretraining/initialisation method is one file that returns its
// MethodInfo (harness/spec/registry.h: name, version, config, pretrainer factory, weights source). Part 2,
// the training step of the methods that pretrain, is methods/pretrainer.h.
#pragma once
#include "harness/spec/registry.h"

namespace usbench::methods {

// Adds every built-in method; called once from main (no static registration).
void register_methods(Registry<MethodInfo>& registry);

}  // namespace usbench::methods
