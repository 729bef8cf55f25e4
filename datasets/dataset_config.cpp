#include "datasets/dataset_config.h"

#include "harness/spec/json_reader.h"

namespace usbench::datasets {

int read_stored_size(JsonObject& o, int fallback) {
  const int s = o.optional<int>("stored_size", fallback);
  if (s < 16 || s > 1024) o.fail("stored_size", "must be between 16 and 1024 pixels");
  return s;
}

// One per data kind file (datasets/kind_*.cpp): config, discovery, sampling and, for generated data,
// generation.
DatasetInfo pocus_kind();
DatasetInfo videos_kind();
DatasetInfo synthetic_kind();

void register_datasets(Registry<DatasetInfo>& registry) {
  registry.add(pocus_kind());
  registry.add(videos_kind());
  registry.add(synthetic_kind());
}

}  // namespace usbench::datasets
