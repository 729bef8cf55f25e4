#include <catch2/catch.hpp>

#include "harness/spec/registry.h"
#include "spec_fixture.h"

using namespace usbench;
using Catch::Matchers::Contains;

namespace {
MethodInfo dummy(const std::string& name) {
  MethodInfo m;
  m.name = name;
  m.resolve = [](const nlohmann::json& j, const std::string&, const std::string&) { return j; };
  return m;
}
}  // namespace

TEST_CASE("registries reject duplicates and answer unknown names with the closest ones", "[unit]") {
  Registry<MethodInfo> reg("method");
  reg.add(dummy("simclr"));
  reg.add(dummy("uscl"));
  CHECK_THROWS_AS(reg.add(dummy("uscl")), std::invalid_argument);
  MethodInfo no_resolver;
  no_resolver.name = "x";
  CHECK_THROWS_AS(reg.add(no_resolver), std::invalid_argument);
  CHECK(reg.get("uscl").name == "uscl");
  CHECK_THROWS_WITH(reg.get("usc1"), Contains("unknown method 'usc1'") && Contains("did you mean 'uscl'") &&
                                         Contains("known: simclr, uscl"));
}

TEST_CASE("the built-ins cover the five methods and checkpoint, three data sets and five protocols", "[unit]") {
  const auto& r = test::builtin_registries();
  CHECK(r.methods.names() == std::vector<std::string>{"checkpoint", "imagenet", "moco", "random", "simclr", "uscl"});
  CHECK(r.datasets.names() == std::vector<std::string>{"pocus", "synthetic", "videos"});
  CHECK(r.protocols.names() ==
        std::vector<std::string>{"full-finetune", "linear-eval", "linear-probe", "uscl-paper", "uscl-paper-val"});
  CHECK(r.methods.get("uscl").pretrains());
  CHECK_FALSE(r.methods.get("imagenet").pretrains());
  CHECK(r.protocols.get("linear-probe").stage == Stage::Probe);
  // Each resolver fills its defaults from an empty config and is idempotent on its own output.
  // checkpoint has no default file: its `weights` is required.
  CHECK_THROWS_WITH(r.methods.get("checkpoint").resolve(nlohmann::json::object(), "t", "m"),
                    Contains("weights") && Contains("missing required key"));
  CHECK_THROWS_WITH(r.methods.get("checkpoint").resolve({{"weights", ""}}, "t", "m"), Contains("weights"));
  for (const auto& name : r.methods.names()) {
    INFO(name);
    const auto user = name == "checkpoint" ? nlohmann::json{{"weights", "best_model.pth"}} : nlohmann::json::object();
    const auto once = r.methods.get(name).resolve(user, "t", "m");
    CHECK(r.methods.get(name).resolve(once, "t", "m") == once);
  }
}
