// The Catch2 main for every test binary. The suite is hermetic about ImageNet weights: a user's torch hub
// cache, USBENCH_IMAGENET_WEIGHTS or USBENCH_HUB_FILES must not change what a test (or the usbench
// commands it starts, which inherit this environment) sees; a test that needs them sets its own.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

int main(int argc, char* argv[]) {
  ::setenv("TORCH_HOME", "/nonexistent/usbench-tests/torch-home", 1);
  ::unsetenv("USBENCH_IMAGENET_WEIGHTS");
  ::unsetenv("USBENCH_HUB_FILES");
  return Catch::Session().run(argc, argv);
}
