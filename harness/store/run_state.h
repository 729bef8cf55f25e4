// A run's stage and status as values (the store spells them in its runs table; harness/store/store.cpp).
#pragma once
#include <string>

namespace usbench {

// What a run is: a pretraining, or a downstream run that fine-tunes or fits a head on frozen features.
enum class Stage { Pretrain, Finetune, Probe };
// Where a run is: recorded, claimed and executing, or finished one of three ways.
enum class RunStatus { Pending, Running, Done, Failed, Interrupted };
// The store's spelling ("pretrain", "done", ...): the CHECK constraints of the runs table name these.
const char* to_string(Stage stage);
const char* to_string(RunStatus status);
// The store's spelling back; RunFailure naming the value for one the schema does not allow (a damaged store).
Stage parse_stage(const std::string& text);
RunStatus parse_run_status(const std::string& text);

}  // namespace usbench
