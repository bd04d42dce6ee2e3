// Status and the engine's one exception type.
//
// Engine code throws EngineError internally (it keeps model code readable); every entry point
// that JS or a test can reach catches it and returns a Status. Nothing aborts.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace pixart {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something wrong
  kModelLoad,        // a model file is missing, corrupt or disagrees with its config
  kOutOfMemory,
  kCancelled,
  kUnsupported,      // valid request the build/backend cannot serve
  kNoDevice,         // asked for a device that is not present
  kInternal,
};

// The JS-visible code for each status ("ERR_PIXART_*").
const char* status_code_name(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

class EngineError : public std::runtime_error {
 public:
  EngineError(StatusCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  StatusCode code() const { return code_; }

 private:
  StatusCode code_;
};

[[noreturn]] inline void fail(StatusCode code, const std::string& message) { throw EngineError(code, message); }

// Runs fn, turning any exception into a Status. Used at every engine entry point.
template <class Fn>
Status guarded(Fn&& fn) noexcept {
  try {
    fn();
    return Status::Ok();
  } catch (const EngineError& e) {
    return Status(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of host memory");
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, e.what());
  } catch (...) {
    return Status(StatusCode::kInternal, "unknown native exception");
  }
}

}  // namespace pixart
