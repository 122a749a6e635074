// Status and Result<T>: the only error currency between saker's modules (leveldb's Status,
// with stable codes that also travel in Thrift exceptions).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace saker {

// Stable numbers: they are sent to clients in SakerError.code and must never change.
enum class StatusCode : int32_t {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kCorruption = 3,
  kIOError = 4,
  kBusy = 5,
  kNotLeader = 6,
  kTimeout = 7,
  kUnavailable = 8,
};

std::string_view StatusCodeName(StatusCode code);

// A success costs one null pointer; an error carries a code and a message that names the
// queue, file and offset it concerns.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string_view msg);
  Status(const Status& other) { *this = other; }
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(StatusCode::kNotFound, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(StatusCode::kInvalidArgument, msg);
  }
  static Status Corruption(std::string_view msg) { return Status(StatusCode::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(StatusCode::kIOError, msg); }
  // An IOError naming the failed call and errno's text: "write /data/1/1.log: No space left".
  static Status FromErrno(std::string_view what, int err);
  static Status Busy(std::string_view msg) { return Status(StatusCode::kBusy, msg); }
  static Status NotLeader(std::string_view msg) { return Status(StatusCode::kNotLeader, msg); }
  static Status Timeout(std::string_view msg) { return Status(StatusCode::kTimeout, msg); }
  static Status Unavailable(std::string_view msg) { return Status(StatusCode::kUnavailable, msg); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsIOError() const { return code() == StatusCode::kIOError; }
  bool IsBusy() const { return code() == StatusCode::kBusy; }
  bool IsTimeout() const { return code() == StatusCode::kTimeout; }
  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }

  // The message alone, without the code name.
  std::string_view message() const { return rep_ ? std::string_view(rep_->msg) : ""; }
  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

 private:
  struct Rep {
    StatusCode code;
    std::string msg;
  };
  std::unique_ptr<Rep> rep_;
};

// A value or an error Status. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace saker

// Returns from the calling function if `expr` (a Status) is not OK.
#define SAKER_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::saker::Status _saker_st = (expr);    \
    if (!_saker_st.ok()) return _saker_st; \
  } while (0)
