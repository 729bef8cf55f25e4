#include "harness/canonical.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace usbench {

std::string canonical_json(const nlohmann::json& value) {
  // nlohmann's dump is already canonical under the contract above: std::map-ordered keys, grisu2
  // shortest round-trip doubles with ".0" appended to integral values, compact separators.
  // error_handler strict: invalid UTF-8 in a key or string is an error, not silently replaced.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

std::string sha256_hex(const std::string& bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1)
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

std::string content_hash(const nlohmann::json& value) { return sha256_hex(canonical_json(value)); }

}  // namespace usbench
