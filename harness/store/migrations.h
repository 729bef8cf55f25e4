// Numbered schema migrations of the store. Migration i (1-based) moves user_version from i-1 to i.
// Append only: a migration that has shipped is never edited.
#pragma once
#include <string>
#include <vector>

namespace usbench {
const std::vector<std::string>& store_migrations();
}
