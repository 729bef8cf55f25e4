#include "harness/model/download.h"

#include <curl/curl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "harness/canonical.h"
#include "harness/errors.h"
#include "harness/model/hub_weights.h"

namespace usbench {

namespace fs = std::filesystem;

namespace {

struct Sink {
  std::FILE* file = nullptr;
  int write_errno = 0;  // non-zero once a write failed
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (std::fwrite(data, 1, n, sink->file) != n) {
    sink->write_errno = errno ? errno : EIO;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  return n;
}

struct Progress {
  std::int64_t offset = 0;
  const FetchOptions* options = nullptr;
};

int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  const auto* p = static_cast<Progress*>(user);
  if (p->options->progress) p->options->progress(p->offset + now, total > 0 ? p->offset + total : -1);
  return 0;
}

// The URL's last path component, without query or fragment.
std::string file_name_of(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const auto scheme = path.find("://");
  if (scheme != std::string::npos) {
    const auto slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? "" : path.substr(slash);
  }
  const auto last = path.find_last_of('/');
  return last == std::string::npos ? path : path.substr(last + 1);
}

enum class Outcome { Complete, RestartWithoutRange };

// One transfer into `partial`, continuing after its current bytes.
Outcome transfer(const std::string& url, const std::string& partial, const FetchOptions& options) {
  std::error_code ec;
  const std::int64_t offset = fs::exists(partial, ec) ? static_cast<std::int64_t>(fs::file_size(partial, ec)) : 0;
  Sink sink;
  sink.file = std::fopen(partial.c_str(), offset > 0 ? "ab" : "wb");
  if (!sink.file) throw UsageError(fmt::format("{}: cannot write ({})", partial, std::strerror(errno)));
  Progress progress{offset, &options};
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw std::runtime_error("libcurl: curl_easy_init failed");
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "usbench");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, report_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &progress);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options.stall_seconds);
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(offset));
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  const bool closed = std::fclose(sink.file) == 0;
  if (sink.write_errno != 0 || !closed)
    throw UsageError(
        fmt::format("{}: write error ({})", partial, std::strerror(sink.write_errno ? sink.write_errno : errno)));

  // A server that ignores the range (200 instead of 206), or a partial that is already whole (416):
  // start again from the first byte.
  if (offset > 0 && (rc == CURLE_RANGE_ERROR || status == 416)) return Outcome::RestartWithoutRange;
  if (rc == CURLE_OK) return Outcome::Complete;

  const std::int64_t kept = fs::exists(partial, ec) ? static_cast<std::int64_t>(fs::file_size(partial, ec)) : 0;
  if (kept == 0) fs::remove(partial, ec);
  const std::string keep_note =
      kept > 0 ? fmt::format("; {} bytes kept in {}: run the same command again to resume", kept, partial) : "";
  if (rc == CURLE_HTTP_RETURNED_ERROR) throw RunFailure(fmt::format("{}: HTTP {}{}", url, status, keep_note));
  if (rc == CURLE_OPERATION_TIMEDOUT)
    throw RunFailure(fmt::format("{}: stalled (under 1 KiB/s for {} s){}", url, options.stall_seconds, keep_note));
  throw RunFailure(fmt::format("{}: {}{}", url, error[0] ? error : curl_easy_strerror(rc), keep_note));
}

}  // namespace

FetchResult fetch_weights(const std::string& url, const std::string& dir, const FetchOptions& options) {
  const std::string name = file_name_of(url);
  if (name.empty() || name == "." || name == "..")
    throw UsageError(url +
                     ": the URL names no file (torch.hub names the cached file after the URL's last path component)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UsageError(fmt::format("{}: cannot create the weights folder ({})", dir, ec.message()));
  FetchResult result;
  result.path = (fs::path(dir) / name).string();
  const std::string partial = result.path + ".partial";

  if (fs::exists(result.path, ec)) {
    result.sha256 = check_hash_prefix(result.path);  // a damaged file is refused by name, never overwritten
    result.bytes = static_cast<std::int64_t>(fs::file_size(result.path));
    result.already_present = true;
    return result;
  }

  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) throw std::runtime_error(std::string("libcurl: ") + curl_easy_strerror(global));
  result.resumed_from = fs::exists(partial, ec) ? static_cast<std::int64_t>(fs::file_size(partial, ec)) : 0;
  if (transfer(url, partial, options) == Outcome::RestartWithoutRange) {
    fs::remove(partial, ec);
    result.resumed_from = 0;
    transfer(url, partial, options);
  }

  const std::string digest = sha256_file(partial);
  const std::string prefix = hash_prefix(name);
  if (digest.compare(0, prefix.size(), prefix) != 0) {
    fs::remove(partial, ec);
    throw UsageError(
        fmt::format("{}: the downloaded file's SHA-256 begins {}, its name says {}: not the released file "
                    "(nothing kept)",
                    url, digest.substr(0, prefix.size()), prefix));
  }
  fs::rename(partial, result.path, ec);
  if (ec) throw UsageError(fmt::format("{}: cannot move the download into place ({})", result.path, ec.message()));
  result.sha256 = digest;
  result.bytes = static_cast<std::int64_t>(fs::file_size(result.path));
  return result;
}

}  // namespace usbench
