// Data kinds (README Design §3): the typed, validated config of each kind, and the registry entries that carry
// their behaviour (discovery, sampling, generation; one file each, datasets/kind_*.cpp). Ingest
// (datasets/ingest.h) asks the entry, never the kind's name.
#pragma once
#include <string>

#include "harness/spec/json_reader.h"
#include "harness/spec/registry.h"

namespace usbench::datasets {

// POCUS layout: class = file-name prefix Cov/Pneu/Reg (case-insensitive), Vir left out of the 3-class
// task; clips are video files, frame folders or still images; about 3 frames/s, at most 30 per clip.
struct PocusConfig {
  std::string src;               // the POCUS data folder (holding pocus_videos/ and pocus_images/)
  std::string probe = "convex";  // convex | linear | both
  bool include_images = true;    // still images as one-frame clips
  double frames_per_second = 3.0;
  int max_frames = 30;
  int stored_size = 224;  // frames are cached as stored_size x stored_size RGB
};

// A generic folder of clips (COVID-BLUES or a user's own videos), optionally labelled from a CSV.
struct VideosConfig {
  std::string src;
  std::string labels_csv;    // optional
  std::string key_column;    // CSV column matched against the clip's group key
  std::string label_column;  // CSV column holding the label
  std::string group_regex;   // capture group 1 of this regex on the file name = group key ("" = clip)
  int every_kth = 1;         // keep every k-th frame
  int max_frames = 0;        // 0 = all
  int stored_size = 224;
};

// Embedded synthetic ultrasound: convex fan, speckle, moving pleural line; classes show as A-lines,
// B-line comet tails or hypoechoic consolidations. Labelled "synthetic" in every table.
struct SyntheticConfig {
  int clips_per_class = 10;
  int frames_per_clip = 8;
  int stored_size = 64;
  long long seed = 0;
};

// "stored_size" of a data config: frames are cached at this size (16 to 1024 px).
int read_stored_size(JsonObject& o, int fallback);

// Adds every built-in data kind; called once from main (no static registration).
void register_datasets(Registry<DatasetInfo>& registry);

}  // namespace usbench::datasets
