// A thin RAII layer over the SQLite C API: a connection, prepared statements and an immediate
// transaction guard. Errors throw std::runtime_error carrying SQLite's message and the file name.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace usbench::sql {

class Db;

// "file:" URI of a path (percent-encoded) with a query such as "mode=ro".
std::string file_uri(const std::string& path, const std::string& query);

class Stmt {
 public:
  Stmt(Db& db, const std::string& sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Bind by 1-based index; returns *this for chaining.
  Stmt& bind(int index, std::int64_t v);
  Stmt& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  Stmt& bind(int index, double v);
  Stmt& bind(int index, const std::string& v);
  Stmt& bind(int index, const char* v) { return bind(index, std::string(v)); }
  Stmt& bind_null(int index);
  template <class T>
  Stmt& bind(int index, const std::optional<T>& v) {
    return v ? bind(index, *v) : bind_null(index);
  }

  // Advances; true while a row is available.
  bool step();
  // Runs to completion (for statements without result rows).
  void run();
  void reset();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  // Inspect: read-only and immutable (SQLite's immutable=1 URI): no locks, and no -wal or -shm file is
  // ever created beside the file, so a file that is then refused stays exactly as found. It reads the
  // main file only, which is enough for identity and version checks.
  enum class Mode { ReadOnly, ReadWrite, ReadWriteCreate, Inspect };
  Db(const std::string& path, Mode mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql);
  std::int64_t scalar_int(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int changes();
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void raise(const std::string& context, int rc);

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so two writers wait on the busy
// timeout instead of deadlocking on a lock upgrade); ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace usbench::sql
