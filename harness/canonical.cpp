#include "harness/canonical.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "harness/errors.h"
#include <stdexcept>

namespace usbench {

std::string canonical_json(const nlohmann::json& value) {
  // nlohmann's dump is already canonical under the contract above: std::map-ordered keys, grisu2
  // shortest round-trip doubles with ".0" appended to integral values, compact separators.
  // error_handler strict: invalid UTF-8 in a key or string is an error, not silently replaced.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

namespace {
using Ctx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Ctx new_ctx() {
  Ctx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 initialisation failed (OpenSSL)");
  return ctx;
}

std::string finish_hex(Ctx& ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1)
    throw std::runtime_error("SHA-256 computation failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}
}  // namespace

std::string sha256_hex(const std::string& bytes) {
  auto ctx = new_ctx();
  if (EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1) throw std::runtime_error("SHA-256 update failed");
  return finish_hex(ctx);
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read the file");
  auto ctx = new_ctx();
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount())) != 1)
      throw std::runtime_error("SHA-256 update failed");
  }
  if (in.bad()) throw UsageError(path + ": read error while hashing");
  return finish_hex(ctx);
}

std::string content_hash(const nlohmann::json& value) { return sha256_hex(canonical_json(value)); }

}  // namespace usbench
