// The precompiled header shared by every torch-using target (see usbench_use_torch in CMakeLists.txt).
// Only files that really need torch include it; the store, config and CLI code stay torch-free.
#pragma once
#include <torch/torch.h>
