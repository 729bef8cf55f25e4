#include "harness/kernels.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "harness/errors.h"

namespace usbench {

namespace {

constexpr const char* kRequestedVar = "USBENCH_CPU_ISA";  // what usbench asked for, read back by describe
// oneDNN 2.x reads DNNL_MAX_CPU_ISA, 2.5 and later ONEDNN_MAX_CPU_ISA first: both are set.
constexpr const char* kOnednnVars[] = {"DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA"};
constexpr const char* kAtenVar = "ATEN_CPU_CAPABILITY";
constexpr const char* kOpenblasVar = "OPENBLAS_CORETYPE";
constexpr const char* kRestartedVar = "USBENCH_KERNELS_RESTARTED";  // guards against a restart loop

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

// oneDNN's dnnl_cpu_isa_t values (oneDNN 2.x, dnnl_types.h); unknown values are shown in hex.
std::string onednn_isa_name(int v) {
  switch (v) {
    case 0x0:
      return "all";
    case 0x1:
      return "sse41";
    case 0x3:
      return "avx";
    case 0x7:
      return "avx2";
    case 0xf:
      return "avx512_mic";
    case 0x1f:
      return "avx512_mic_4ops";
    case 0x27:
      return "avx512_core";
    case 0x67:
      return "avx512_core_vnni";
    case 0xe7:
      return "avx512_core_bf16";
    case 0x3e7:
      return "avx512_core_amx";
    case 0x407:
      return "avx2_vnni";
    default:
      return fmt::format("0x{:x}", v);
  }
}

// The effective oneDNN ISA, from the shared libdnnl LibTorch links (Debian's). A LibTorch that carries
// oneDNN inside itself with hidden symbols (the pip wheels) does not say: "unknown".
std::string onednn_effective_isa() {
  using Fn = int (*)();
  auto* fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  return fn ? onednn_isa_name(fn()) : "unknown";
}

// OpenBLAS's core where OpenBLAS is loaded, "" otherwise.
std::string openblas_core() {
  using Core = char* (*)();
  auto* core = reinterpret_cast<Core>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return core ? std::string(core()) : std::string();
}

// The BLAS library in this process: the loaded file behind libblas / libopenblas (folder and name, e.g.
// "blas/libblas.so.3.11.0", Debian's reference BLAS, or "openblas-pthread/libblas.so.3"), with OpenBLAS's
// core where it is OpenBLAS; "none loaded" where LibTorch carries its own (MKL in the pip wheels).
std::string blas_library() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        const auto file = std::filesystem::path(name).filename().string();
        if (file.rfind("libblas.so", 0) == 0 || file.rfind("libopenblas", 0) == 0) {
          std::error_code ec;
          const auto real = std::filesystem::canonical(name, ec);
          const auto p = ec ? std::filesystem::path(name) : real;
          *static_cast<std::string*>(data) = (p.parent_path().filename() / p.filename()).string();
          return 1;
        }
        return 0;
      },
      &found);
  if (found.empty()) return "none loaded";
  if (const auto core = openblas_core(); !core.empty()) found += fmt::format(" (OpenBLAS core {})", core);
  return found;
}

}  // namespace

std::string to_string(CpuIsa isa) { return isa == CpuIsa::Avx2 ? "avx2" : "native"; }

CpuIsa parse_cpu_isa(const std::string& text, const std::string& what) {
  if (text == "avx2") return CpuIsa::Avx2;
  if (text == "native") return CpuIsa::Native;
  throw UsageError(
      fmt::format("{}: '{}' is not a CPU kernel set ({}): avx2 gives the same bits on every x86-64 machine "
                  "with AVX2, native lets the libraries choose by processor",
                  what, text, kCpuIsaNames));
}

KernelChoice apply_kernel_set(CpuIsa isa, char* const* restart_argv) {
  KernelChoice c;
  c.requested = isa;
  c.cpu_has_avx2 = cpu_has_avx2_fma();
  c.cpu_has_avx512 = cpu_has_avx512();
  ::setenv(kRequestedVar, to_string(isa).c_str(), 1);
  for (const char* var : kOnednnVars) {
    if (isa == CpuIsa::Avx2)
      ::setenv(var, "AVX2", 1);  // a cap: oneDNN uses AVX2 or less, whatever the processor has
    else
      ::unsetenv(var);
  }
  // ATen trusts this variable without checking the processor: set it only where AVX2 and FMA exist.
  if (isa == CpuIsa::Avx2 && c.cpu_has_avx2)
    ::setenv(kAtenVar, "avx2", 1);
  else
    ::unsetenv(kAtenVar);
  // OpenBLAS read its core type at load time. Measured (README "Regression gate"): its SkylakeX (AVX-512)
  // and Haswell kernels give different bits (Haswell and Zen the same; Haswell is asked for everywhere, so
  // that the recorded core names one kernel set).
  if (isa == CpuIsa::Avx2 && c.cpu_has_avx2) {
    const std::string core = openblas_core();
    if (!core.empty() && core != "Haswell") {
      ::setenv(kOpenblasVar, "Haswell", 1);
      if (restart_argv && !std::getenv(kRestartedVar)) {
        ::setenv(kRestartedVar, "1", 1);
        ::execv("/proc/self/exe", restart_argv);  // returns only on failure: carry on, the record says which core ran
      }
    }
  }
  return c;
}

nlohmann::json describe_kernel_set(const std::string& aten_capability) {
  const char* requested = std::getenv(kRequestedVar);
  return {{"requested", requested ? requested : "unset"},
          {"onednn", onednn_effective_isa()},
          {"aten", aten_capability},
          {"blas", blas_library()},
          {"cpu_avx2", cpu_has_avx2_fma()},
          {"cpu_avx512", cpu_has_avx512()}};
}

std::string kernel_set_key(const nlohmann::json& d) {
  auto text = [&](const char* key) {
    const auto it = d.find(key);
    return it != d.end() && it->is_string() ? it->get<std::string>() : std::string("unknown");
  };
  return fmt::format("onednn {}, aten {}, blas {}", text("onednn"), text("aten"), text("blas"));
}

}  // namespace usbench
