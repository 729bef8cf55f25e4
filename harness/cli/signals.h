// SIGINT and SIGTERM during `usbench run` (README Design §8): the first one is only recorded; the runner sees it
// at the next step (RunnerOptions::interrupted), marks the current run `interrupted` and the command
// exits with 128 + signal. A second signal of the same kind has its default effect (SA_RESETHAND), so
// a user can always kill a process that does not stop.
#pragma once

namespace usbench::cli {

void install_stop_handlers();
int stop_signal();  // the first SIGINT/SIGTERM received, 0 while none

}  // namespace usbench::cli
