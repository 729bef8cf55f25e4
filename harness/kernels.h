// The CPU kernel set (README "Regression gate", "Performance"): which vector instructions LibTorch's CPU
// kernels may use. oneDNN (convolutions, batch norm, pooling) and ATen's vectorised kernels otherwise pick
// the widest instructions the processor has, so an AVX-512 machine and an AVX2 machine compute different
// bits from the same program. usbench chooses instead:
//  - avx2 (the default): oneDNN capped at AVX2 and ATen's kernels at AVX2, on every x86-64 machine that has
//    AVX2 and FMA; the same bits on Intel and AMD alike (measured: README "Regression gate").
//  - native: the libraries choose by processor (faster on AVX-512 machines; results then depend on it).
// The choice is made through the libraries' own environment variables (DNNL_MAX_CPU_ISA /
// ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY), which they read once, at their first computation: apply it
// before LibTorch computes anything in the process. Child processes inherit it.
//
// Torch-free: this file only sets and reads the process environment and asks the loaded libraries
// (by symbol lookup) what they chose.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace usbench {

enum class CpuIsa { Avx2, Native };

inline constexpr const char* kCpuIsaNames = "avx2, native";
std::string to_string(CpuIsa isa);
// "avx2" or "native"; UsageError naming `what` (a spec key or an option) otherwise.
CpuIsa parse_cpu_isa(const std::string& text, const std::string& what);

// What apply_kernel_set did.
struct KernelChoice {
  CpuIsa requested = CpuIsa::Avx2;
  bool cpu_has_avx2 = false;  // AVX2 and FMA: without them avx2 cannot be pinned and the libraries choose
  bool cpu_has_avx512 = false;
};

// Sets (avx2) or clears (native) the libraries' variables. Call it before the first LibTorch computation
// of the process; afterwards the libraries keep what they read (the call cannot be undone then). On a
// processor without AVX2 + FMA, ATen is left to choose (forcing AVX2 there would crash), and the
// recorded kernel set says what ran.
// OpenBLAS (where it is the system's BLAS) chooses its kernels when it is loaded, before main: with avx2
// and `restart_argv`, a process whose OpenBLAS runs another core than Haswell (OpenBLAS's AVX2 kernels)
// starts itself again (execv of /proc/self/exe) with OPENBLAS_CORETYPE=Haswell, once. Without
// `restart_argv` (or where the restart did not take) the BLAS core is recorded as it is.
KernelChoice apply_kernel_set(CpuIsa isa, char* const* restart_argv = nullptr);

// The kernel set in force, as the libraries report it, for every run's environment record and
// `usbench env`: {"requested": "avx2" | "native" | "unset", "onednn": effective oneDNN ISA ("avx2",
// "avx512_core", ... or "unknown" where LibTorch's oneDNN is not a shared library), "aten": ATen's CPU
// capability (passed in: it needs torch), "blas": the BLAS library loaded, "cpu_avx512": bool}.
// Asking oneDNN fixes its choice: call it after apply_kernel_set.
nlohmann::json describe_kernel_set(const std::string& aten_capability);

// One line for platforms and logs: "onednn avx2, aten AVX2, blas blas/libblas.so.3.11.0".
std::string kernel_set_key(const nlohmann::json& described);

}  // namespace usbench
