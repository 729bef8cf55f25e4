#include "harness/run/run_lease.h"

#include <chrono>

#include "harness/store/sqlite.h"
#include "harness/store/store.h"

namespace usbench {

RunLease::RunLease(std::string db_path, std::string run_id, std::string token, int period_ms)
    : db_path_(std::move(db_path)), run_id_(std::move(run_id)), token_(std::move(token)), period_ms_(period_ms) {
  thread_ = std::thread([this] { loop(); });
}

RunLease::~RunLease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RunLease::loop() {
  try {
    sql::Db db(db_path_, sql::Db::Mode::ReadWrite);
    db.exec("PRAGMA busy_timeout = 30000");
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(period_ms_), [this] { return stop_; })) {
      lock.unlock();
      sql::Stmt s(db, "UPDATE runs SET heartbeat_ms=? WHERE id=? AND owner_token=? AND status='running'");
      s.bind(1, now_ms()).bind(2, run_id_).bind(3, token_).run();
      if (db.changes() != 1) lost_ = true;
      lock.lock();
      if (lost_) return;
    }
  } catch (const std::exception&) {
    // A store that cannot be written is noticed by the run's own writes; the heartbeat just stops.
  }
}

}  // namespace usbench
