#include "datasets/dataset_config.h"
#include "harness/cli/builtins.h"
#include "harness/run/protocols.h"
#include "methods/method.h"

namespace usbench::cli {

void register_builtins(Registries& registries) {
  methods::register_methods(registries.methods);
  datasets::register_datasets(registries.datasets);
  register_protocols(registries.protocols);
}

}  // namespace usbench::cli
