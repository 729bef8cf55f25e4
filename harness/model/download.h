// Downloading a weights file over HTTP(S) with libcurl, the way torch.hub fills its cache, but
// resumable. Built only when libcurl is found (USBENCH_WITH_CURL); never called during a run.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace usbench {

struct FetchOptions {
  // Abort when fewer than 1 KiB/s arrive for this many seconds (a stalled server); the partial file is
  // kept and the next fetch resumes from it.
  long stall_seconds = 60;
  long connect_timeout_seconds = 30;
  // Called with (bytes of the file present so far, total size or -1 when unknown).
  std::function<void(std::int64_t, std::int64_t)> progress;
};

struct FetchResult {
  std::string path;    // the file in `dir`
  std::string sha256;  // of its content
  std::int64_t bytes = 0;
  std::int64_t resumed_from = 0;  // bytes already present from an earlier, interrupted fetch (0: fresh)
  bool already_present = false;   // the file was there and passed the check; nothing was downloaded
};

// Fetches `url` into `dir`/NAME, NAME being the URL's last path component (torch.hub's rule). The bytes
// go to NAME.partial beside it; an interrupted fetch (network error, stall, killed process) leaves that
// file, and the next fetch asks the server for the rest (HTTP Range) or starts again when it will not
// give a range. The complete file's SHA-256 must begin with NAME's hash prefix (hash_prefix()); only
// then is it renamed to NAME, so NAME is never a partial or a wrong file. A file already at NAME that
// passes the check is kept and nothing is downloaded.
// Errors: UsageError (exit 2) for a URL without a file name, a folder that cannot be written, a hash
// mismatch (the partial is deleted: resuming it could not help); RunFailure (exit 1) for HTTP errors
// (e.g. 404, named with the URL), network errors and stalls, with the partial kept for a later resume.
FetchResult fetch_weights(const std::string& url, const std::string& dir, const FetchOptions& options);

}  // namespace usbench
