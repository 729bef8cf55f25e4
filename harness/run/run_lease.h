// A run's claim, kept alive while the run executes (README Design §7). A RunLease renews the claim's heartbeat
// every kHeartbeatPeriodMs from a thread with its own SQLite connection, so a long epoch never makes
// the claim look stale to another process. If a renewal finds the run no longer held by this token
// (another process took it over as stale), lost() turns true and the run must stop without writing
// its status.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace usbench {

class RunLease {
 public:
  RunLease(std::string db_path, std::string run_id, std::string token, int period_ms);
  ~RunLease();  // stops and joins the thread
  RunLease(const RunLease&) = delete;
  RunLease& operator=(const RunLease&) = delete;
  bool lost() const { return lost_.load(); }

 private:
  void loop();
  std::string db_path_, run_id_, token_;
  int period_ms_;
  std::atomic<bool> lost_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace usbench
