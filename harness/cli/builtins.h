// The one explicit call that fills the registries with the built-in methods, data sets and protocols.
#pragma once
#include "harness/spec/registry.h"

namespace usbench::cli {
void register_builtins(Registries& registries);
}
