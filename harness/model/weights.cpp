#include "harness/model/weights.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>

#include "harness/errors.h"
#include "harness/input_file.h"
#include "harness/model/zip_directory.h"
#include "harness/output_file.h"

namespace usbench {

namespace fs = std::filesystem;

namespace {

// ---- A minimal unpickler for state dicts (pickle protocols 2-4) -------------------------------------

struct PVal;
using PPtr = std::shared_ptr<PVal>;
struct PVal {
  enum Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Tensor, Mark } kind = None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                               // Str, or "module.name" for Global
  std::vector<PPtr> items;                     // Tuple, List
  std::vector<std::pair<PPtr, PPtr>> entries;  // Dict (insertion order)
  torch::Tensor t;
};

PPtr make(PVal::Kind k) {
  auto p = std::make_shared<PVal>();
  p->kind = k;
  return p;
}

// What the objects in a state dict's pickle mean: tensor storages (persistent ids, bytes from
// `storage`) and the few callables torch.save writes (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter,
// LibTorch's restore_type_tag). A hostile file can declare any view of any storage: every tensor record
// is checked to lie inside its storage before a view is made. Anything else is refused by name.
class StateDictObjects {
 public:
  using Storage = std::function<torch::Tensor(const std::string& key, c10::ScalarType, std::int64_t numel)>;
  StateDictObjects(std::string origin, Storage storage) : origin_(std::move(origin)), storage_(std::move(storage)) {}
  void defer_clone() { defer_ = true; }

  static c10::ScalarType dtype_of(const std::string& storage_type, bool& ok) {
    static const std::map<std::string, c10::ScalarType> kTypes = {
        {"torch.FloatStorage", c10::kFloat}, {"torch.DoubleStorage", c10::kDouble},
        {"torch.HalfStorage", c10::kHalf},   {"torch.BFloat16Storage", c10::kBFloat16},
        {"torch.LongStorage", c10::kLong},   {"torch.IntStorage", c10::kInt},
        {"torch.ShortStorage", c10::kShort}, {"torch.CharStorage", c10::kChar},
        {"torch.ByteStorage", c10::kByte},   {"torch.BoolStorage", c10::kBool}};
    auto it = kTypes.find(storage_type);
    ok = it != kTypes.end();
    return ok ? it->second : c10::kFloat;
  }
  PPtr persistent(const PPtr& pid) {
    // ('storage', torch.FloatStorage, key, location, numel)
    if (pid->kind != PVal::Tuple || pid->items.size() < 5 || pid->items[0]->s != "storage")
      fail("unexpected persistent id (not a tensor storage)");
    bool ok = false;
    const auto dtype = dtype_of(pid->items[1]->s, ok);
    if (!ok) fail("unsupported storage type " + pid->items[1]->s);
    if (pid->items[4]->i < 0) fail("storage '" + pid->items[2]->s + "' declares a negative size");
    auto v = make(PVal::Tensor);
    v->t = storage_(pid->items[2]->s, dtype, pid->items[4]->i);
    return v;
  }
  static std::vector<std::int64_t> ints(const PPtr& t) {
    std::vector<std::int64_t> out;
    for (const auto& x : t->items) out.push_back(x->i);
    return out;
  }
  PPtr reduce(const PPtr& fn, const PPtr& args) {
    if (fn->kind != PVal::Global) fail("REDUCE of a non-global");
    if (fn->s == "collections.OrderedDict") return make(PVal::Dict);
    if (fn->s == "torch._utils._rebuild_tensor_v2" || fn->s == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != PVal::Tensor) fail("malformed tensor record");
      // A hostile file can declare any view of its storage: check it lies inside the storage first.
      const auto sizes = ints(a[2]), strides = ints(a[3]);
      const std::int64_t offset = a[1]->i, storage = a[0]->t.numel();
      if (sizes.size() != strides.size() || sizes.size() > 16) fail("tensor record with malformed sizes and strides");
      std::int64_t last = offset;
      bool empty = false;
      for (std::size_t d = 0; d < sizes.size(); ++d) {
        if (sizes[d] < 0 || strides[d] < 0 || sizes[d] > (std::int64_t{1} << 40) ||
            strides[d] > (std::int64_t{1} << 40))
          fail("tensor record with a negative or huge size or stride");
        if (sizes[d] == 0)
          empty = true;
        else
          last += (sizes[d] - 1) * strides[d];
      }
      if (offset < 0 || (!empty && (offset >= storage || last >= storage)))
        fail("tensor record reaches outside its storage (offset " + std::to_string(offset) + ", storage of " +
             std::to_string(storage) + " elements)");
      auto v = make(PVal::Tensor);
      v->t = a[0]->t.as_strided(sizes, strides, offset);
      if (!defer_) v->t = v->t.clone();
      return v;
    }
    if (fn->s == "torch._utils._rebuild_parameter") return args->items.at(0);
    // LibTorch's pickle_save (our own exports) tags typed containers: (value, "Dict[str, Tensor]").
    if (fn->s == "torch.jit._pickle.restore_type_tag") return args->items.at(0);
    fail("unsupported object " + fn->s + " (only state dicts of tensors are read)");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw UsageError(origin_ + ": cannot read weights: " + why); }

  std::string origin_;
  Storage storage_;
  bool defer_ = false;
};

class Unpickler {
 public:
  Unpickler(const std::string& origin, const char* data, std::size_t size,
            std::function<torch::Tensor(const std::string& key, c10::ScalarType, std::int64_t numel)> storage)
      : origin_(origin), p_(data), end_(data + size), objects_(origin, std::move(storage)) {}
  // Legacy files hold the storages' bytes after the pickle: tensors are then views of storages that are
  // filled later, and the caller clones them once the bytes are in.
  void defer_clone() { objects_.defer_clone(); }
  // Where the stream continues after run() stopped (legacy files are several pickles in a row).
  const char* position() const { return p_; }

  PPtr run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80:
          byte();
          break;  // PROTO
        case 0x95:
          take(8);
          break;  // FRAME
        case '(':
          push(make(PVal::Mark));
          break;  // MARK
        case 'N':
          push(make(PVal::None));
          break;
        case 0x88:
          push_bool(true);
          break;  // NEWTRUE
        case 0x89:
          push_bool(false);
          break;  // NEWFALSE
        case 'K':
          push_int(static_cast<unsigned char>(byte()));
          break;  // BININT1
        case 'M':
          push_int(le<std::uint16_t>());
          break;  // BININT2
        case 'J':
          push_int(le<std::int32_t>());
          break;      // BININT
        case 0x8a: {  // LONG1
          const int n = static_cast<unsigned char>(byte());
          std::int64_t v = 0;
          const char* d = take(static_cast<std::size_t>(n));
          for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(d[k]);
          if (n > 0 && n < 8 && (d[n - 1] & 0x80)) v -= std::int64_t(1) << (8 * n);
          push_int(v);
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const char* d = take(8);
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(d[k]);
          auto v = make(PVal::Float);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X':
          push_str(le<std::uint32_t>());
          break;  // BINUNICODE
        case 0x8c:
          push_str(static_cast<unsigned char>(byte()));
          break;     // SHORT_BINUNICODE
        case 'c': {  // GLOBAL "module\nname\n"
          const std::string mod = line(), name = line();
          auto g = make(PVal::Global);
          g->s = mod + "." + name;
          push(g);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), mod = pop();
          auto g = make(PVal::Global);
          g->s = mod->s + "." + name->s;
          push(g);
          break;
        }
        case ')':
          push(make(PVal::Tuple));
          break;  // EMPTY_TUPLE
        case 0x85:
          tuple_of(1);
          break;
        case 0x86:
          tuple_of(2);
          break;
        case 0x87:
          tuple_of(3);
          break;
        case 't': {  // TUPLE
          auto t = make(PVal::Tuple);
          t->items = pop_to_mark();
          push(t);
          break;
        }
        case ']':
          push(make(PVal::List));
          break;  // EMPTY_LIST
        case '}':
          push(make(PVal::Dict));
          break;     // EMPTY_DICT
        case 'a': {  // APPEND
          auto v = pop();
          top()->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto vs = pop_to_mark();
          auto& l = top()->items;
          l.insert(l.end(), vs.begin(), vs.end());
          break;
        }
        case 's': {  // SETITEM
          auto v = pop(), k = pop();
          top()->entries.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto vs = pop_to_mark();
          for (std::size_t k = 0; k + 1 < vs.size(); k += 2) top()->entries.emplace_back(vs[k], vs[k + 1]);
          break;
        }
        case 'q':
          memo_[static_cast<unsigned char>(byte())] = top();
          break;  // BINPUT
        case 'r':
          memo_[le<std::uint32_t>()] = top();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[memo_.size()] = top();
          break;  // MEMOIZE
        case 'h':
          push(memo(static_cast<unsigned char>(byte())));
          break;  // BINGET
        case 'j':
          push(memo(le<std::uint32_t>()));
          break;  // LONG_BINGET
        case 'Q':
          push(objects_.persistent(pop()));
          break;     // BINPERSID
        case 'R': {  // REDUCE
          auto args = pop(), fn = pop();
          push(objects_.reduce(fn, args));
          break;
        }
        case 'b':
          pop();
          break;  // BUILD: the only state in a state dict is OrderedDict's `_metadata`; dropped
        case '.':
          return pop();  // STOP
        default:
          fail("unsupported pickle opcode 0x" + hex(op) + " (not a plain state dict?)");
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw UsageError(origin_ + ": cannot read weights: " + why); }
  static std::string hex(unsigned v) {
    const char* h = "0123456789abcdef";
    return std::string{h[(v >> 4) & 15], h[v & 15]};
  }
  char byte() { return *take(1); }
  const char* take(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) fail("pickle stream ends early (truncated file?)");
    const char* r = p_;
    p_ += n;
    return r;
  }
  template <class T>
  T le() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string line() {
    std::string s;
    for (char c = byte(); c != '\n'; c = byte()) s += c;
    return s;
  }
  void push(PPtr v) { stack_.push_back(std::move(v)); }
  PPtr pop() {
    if (stack_.empty()) fail("pickle stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PPtr top() {
    if (stack_.empty()) fail("pickle stack underflow");
    return stack_.back();
  }
  PPtr memo(std::size_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("bad memo reference");
    return it->second;
  }
  void push_bool(bool b) {
    auto v = make(PVal::Bool);
    v->b = b;
    push(v);
  }
  void push_int(std::int64_t i) {
    auto v = make(PVal::Int);
    v->i = i;
    push(v);
  }
  void push_str(std::size_t n) {
    auto v = make(PVal::Str);
    v->s.assign(take(n), n);
    push(v);
  }
  void tuple_of(int n) {
    auto t = make(PVal::Tuple);
    t->items.resize(static_cast<std::size_t>(n));
    for (int k = n - 1; k >= 0; --k) t->items[static_cast<std::size_t>(k)] = pop();
    push(t);
  }
  std::vector<PPtr> pop_to_mark() {
    std::vector<PPtr> out;
    for (;;) {
      auto v = pop();
      if (v->kind == PVal::Mark) break;
      out.push_back(v);
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
  std::string origin_;
  const char* p_;
  const char* end_;
  StateDictObjects objects_;
  std::vector<PPtr> stack_;
  std::map<std::size_t, PPtr> memo_;
};

std::string list(const std::vector<std::string>& v, std::size_t max = 12) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += ", ... (" + std::to_string(v.size() - max) + " more)";
  return s;
}

// The pickle that opens every legacy (pre-1.6, or _use_new_zipfile_serialization=False) torch.save file:
// protocol 2, LONG1 of torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, STOP.
const unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                      0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};

bool is_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[sizeof kLegacyMagic] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return in.gcount() == sizeof head && std::memcmp(head, kLegacyMagic, sizeof head) == 0;
}

// Legacy layout (torch/serialization.py, _legacy_save): magic, protocol version 1001, sys_info, the
// object (storages as persistent ids), the sorted storage keys, then per key an int64 element count and
// the raw little-endian bytes.
PPtr read_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const char* p = bytes.data() + sizeof kLegacyMagic;
  const char* end = bytes.data() + bytes.size();
  auto next = [&](Unpickler& u) {
    auto v = u.run();
    p = u.position();
    return v;
  };
  auto none = [&path](const std::string&, c10::ScalarType, std::int64_t) -> torch::Tensor {
    throw UsageError(path + ": a tensor where the legacy header should be");
  };
  Unpickler version_u(path, p, static_cast<std::size_t>(end - p), none);
  const auto version = next(version_u);
  if (version->kind != PVal::Int || version->i != 1001)
    throw UsageError(path + ": legacy torch.save file with protocol version " + std::to_string(version->i) +
                     " (only 1001 is known)");
  Unpickler info_u(path, p, static_cast<std::size_t>(end - p), none);
  const auto info = next(info_u);
  for (const auto& [k, v] : info->entries)
    if (k->s == "little_endian" && v->kind == PVal::Bool && !v->b)
      throw UsageError(path + ": big-endian legacy checkpoint");
  std::map<std::string, torch::Tensor> storages;
  Unpickler main_u(path, p, static_cast<std::size_t>(end - p),
                   [&](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
                     auto it = storages.find(key);
                     // Every storage's bytes follow in this file: a size beyond what is left of it is refused before
                     // allocating.
                     if (it == storages.end() && static_cast<std::uint64_t>(numel) * c10::elementSize(dtype) >
                                                     static_cast<std::uint64_t>(end - p))
                       throw UsageError(path + ": storage '" + key + "' declares " + std::to_string(numel) +
                                        " elements, more than the file holds");
                     if (it == storages.end())
                       it = storages.emplace(key, torch::empty({numel}, torch::TensorOptions().dtype(dtype))).first;
                     return it->second;
                   });
  main_u.defer_clone();
  const auto root = next(main_u);
  Unpickler keys_u(path, p, static_cast<std::size_t>(end - p), none);
  const auto keys = next(keys_u);
  if (keys->kind != PVal::List) throw UsageError(path + ": legacy checkpoint without its storage key list");
  for (const auto& k : keys->items) {
    auto it = storages.find(k->s);
    if (it == storages.end()) throw UsageError(path + ": storage '" + k->s + "' is listed but never used");
    if (end - p < 8) throw UsageError(path + ": truncated before storage '" + k->s + "'");
    std::int64_t numel = 0;
    std::memcpy(&numel, p, 8);
    p += 8;
    const auto want = static_cast<std::size_t>(it->second.numel()) * it->second.element_size();
    if (numel != it->second.numel() || static_cast<std::size_t>(end - p) < want)
      throw UsageError(path + ": storage '" + k->s + "' is truncated or has the wrong size");
    std::memcpy(it->second.data_ptr(), p, want);
    p += want;
  }
  std::function<void(const PPtr&)> own = [&](const PPtr& v) {  // views of storages -> tensors of their own
    if (v->kind == PVal::Tensor) v->t = v->t.clone();
    for (auto& x : v->items) own(x);
    for (auto& [k, x] : v->entries) own(x);
  };
  own(root);
  return root;
}

}  // namespace

StateDict read_state_dict(const std::string& path) {
  std::error_code ec;
  require_regular_file(path, "weights file");
  PPtr root;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  if (is_legacy(path)) {
    root = read_legacy(path);
  } else {
    // Sizes first, from the central directory: LibTorch's reader inflates a member into memory of the size
    // it declares, so a compression bomb must be refused before it is asked for any record.
    std::map<std::string, std::uint64_t> record_bytes;  // record name without the archive's folder -> size
    std::map<std::string, std::string> member_of;       // record name without the folder -> the member's name
    std::vector<ZipMember> members;
    try {
      members = checked_zip_directory(path);
    } catch (const NotZipArchive&) {
      throw UsageError(path + ": not a PyTorch checkpoint (neither torch.save's zip format nor its legacy format)");
    }
    for (const auto& m : members) {
      const auto slash = m.name.find('/');
      const auto record = slash == std::string::npos ? m.name : m.name.substr(slash + 1);
      record_bytes[record] = m.uncompressed;
      member_of[record] = m.name;
    }
    try {
      reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const c10::Error&) {
      throw UsageError(path + ": not a PyTorch checkpoint (neither torch.save's zip format nor its legacy format)");
    }
    if (!reader->hasRecord("data.pkl"))
      throw UsageError(path + ": PyTorch archive without data.pkl (a TorchScript module?)");
    auto [data, size] = reader->getRecord("data.pkl");
    // Every member carries the CRC-32 of its bytes: a flipped bit is refused by name before anything is used.
    verify_zip_member(path, members, member_of.count("data.pkl") ? member_of.at("data.pkl") : "data.pkl", data.get(),
                      size);
    Unpickler u(path, static_cast<const char*>(data.get()), size,
                [&](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
                  const std::string rec = "data/" + key;
                  if (!reader->hasRecord(rec)) throw UsageError(path + ": missing tensor record " + rec);
                  const auto elem = c10::elementSize(dtype);
                  // The pickle declares the storage (numel x element size); its record must hold exactly that.
                  const auto declared = record_bytes.find(rec);
                  const auto want = static_cast<std::uint64_t>(numel) * elem;
                  if (declared != record_bytes.end() && declared->second > want)
                    throw UsageError(path + ": tensor record " + rec + " declares " + std::to_string(declared->second) +
                                     " bytes, its storage needs " + std::to_string(want));
                  if (declared != record_bytes.end() && declared->second < want)
                    throw UsageError(path + ": tensor record " + rec + " is short");
                  auto [bytes, n] = reader->getRecord(rec);
                  if (n < static_cast<std::size_t>(numel) * elem)
                    throw UsageError(path + ": tensor record " + rec + " is short");
                  verify_zip_member(path, members, member_of.count(rec) ? member_of.at(rec) : rec, bytes.get(), n);
                  auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
                  std::memcpy(t.data_ptr(), bytes.get(), static_cast<std::size_t>(numel) * elem);
                  return t;
                });
    root = u.run();
  }
  if (root->kind != PVal::Dict)
    throw UsageError(path + ": the checkpoint is not a state dict (top level is not a dict)");
  StateDict out;
  for (const auto& [k, v] : root->entries) {
    if (k->kind != PVal::Str) throw UsageError(path + ": state dict key is not a string");
    if (v->kind != PVal::Tensor) {
      // Wrapped checkpoints ({"state_dict": {...}, "epoch": ...}) are common in research code.
      if (v->kind == PVal::Dict && (k->s == "state_dict" || k->s == "model"))
        throw UsageError(path + ": the weights are nested under '" + k->s + "'; save that entry on its own");
      throw UsageError(path + ": entry '" + k->s + "' is not a tensor");
    }
    out.emplace_back(k->s, v->t);
  }
  return out;
}

LoadReport load_weights(ResNetImpl& model, const StateDict& weights, const std::string& origin, bool with_fc) {
  LoadReport report;
  bool uscl = false;
  for (const auto& [k, t] : weights) uscl = uscl || k.rfind("features.", 0) == 0 || k.rfind("module.features.", 0) == 0;
  report.layout = uscl ? WeightLayout::Uscl : WeightLayout::Torchvision;
  static const std::map<std::string, std::string> kUsclMap = {{"0", "conv1"},  {"1", "bn1"},    {"4", "layer1"},
                                                              {"5", "layer2"}, {"6", "layer3"}, {"7", "layer4"}};
  std::map<std::string, torch::Tensor> mapped;
  std::vector<std::string> unexpected;
  for (const auto& [key, t] : weights) {
    std::string k = key.rfind("module.", 0) == 0 ? key.substr(7) : key;
    if (uscl) {
      if (k.rfind("l1.", 0) == 0 || k.rfind("l2.", 0) == 0 || k.rfind("fc.", 0) == 0) {
        report.ignored.push_back(key);
        continue;
      }
      if (k.rfind("features.", 0) == 0) {
        const auto dot = k.find('.', 9);
        auto it = kUsclMap.find(k.substr(9, dot - 9));
        if (dot == std::string::npos || it == kUsclMap.end()) {
          unexpected.push_back(key);
          continue;
        }
        k = it->second + k.substr(dot);
      }
    } else if (!with_fc && k.rfind("fc.", 0) == 0) {
      report.ignored.push_back(key);
      continue;
    }
    mapped[k] = t;
  }
  const bool need_fc = with_fc && !uscl;
  std::vector<std::string> missing, mismatched;
  std::map<std::string, torch::Tensor> targets;
  for (auto& p : model.named_parameters(true)) targets[p.key()] = p.value();
  for (auto& b : model.named_buffers(true)) targets[b.key()] = b.value();
  for (const auto& [name, target] : targets) {
    if (!need_fc && name.rfind("fc.", 0) == 0) continue;
    auto it = mapped.find(name);
    if (it == mapped.end()) {
      missing.push_back(name);
    } else if (it->second.sizes() != target.sizes()) {
      mismatched.push_back(name + " (file " + c10::str(it->second.sizes()) + ", model " + c10::str(target.sizes()) +
                           ")");
    }
  }
  for (const auto& [name, t] : mapped)
    if (!targets.count(name) || (!need_fc && name.rfind("fc.", 0) == 0)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg =
        origin + ": weights do not fit a " + std::to_string(model.spec().feature_dim()) + "-feature ResNet";
    if (!missing.empty()) msg += "\n  missing keys: " + list(missing);
    if (!unexpected.empty()) msg += "\n  unexpected keys: " + list(unexpected);
    if (!mismatched.empty()) msg += "\n  shape mismatches: " + list(mismatched);
    throw UsageError(msg);
  }
  // Values a network cannot have come from a broken or hostile file: refuse them by tensor name.
  std::vector<std::string> bad_values;
  for (const auto& [name, target] : targets) {
    auto it = mapped.find(name);
    if (it == mapped.end() || !target.is_floating_point()) continue;  // e.g. num_batches_tracked is an integer
    if (!it->second.is_floating_point())
      bad_values.push_back(name + " (dtype " + std::string(c10::toString(it->second.scalar_type())) +
                           ", expected floating point)");
    else if (it->second.numel() > 0 && !torch::isfinite(it->second).all().item<bool>())
      bad_values.push_back(name + " (NaN or infinite values)");
  }
  if (!bad_values.empty()) throw UsageError(origin + ": weights with unusable values: " + list(bad_values));
  torch::NoGradGuard guard;
  for (const auto& [name, target] : targets) {
    auto it = mapped.find(name);
    if (it == mapped.end()) continue;
    target.copy_(it->second.to(target.dtype()));
    ++report.loaded;
  }
  return report;
}

StateDict state_dict(ResNetImpl& model) {
  // torchvision's order: each module's parameters, then its buffers, depth first. named_parameters /
  // named_buffers list them separately, so interleave by module prefix.
  StateDict out;
  auto params = model.named_parameters(true);
  auto buffers = model.named_buffers(true);
  for (const auto& m : model.named_modules()) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(false))
      out.emplace_back(prefix + p.key(), p.value().detach().cpu());
    for (const auto& b : m.value()->named_buffers(false)) out.emplace_back(prefix + b.key(), b.value().detach().cpu());
  }
  return out;
}

FileDigest save_state_dict(const StateDict& dict, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> d;
  for (const auto& [k, t] : dict) d.insert(k, t.contiguous());
  const std::vector<char> bytes = torch::pickle_save(d);
  return write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace usbench
