#include "status.h"

namespace pixart {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "ERR_PIXART_INVALID_ARGUMENT";
    case StatusCode::kModelLoad: return "ERR_PIXART_MODEL_LOAD";
    case StatusCode::kOutOfMemory: return "ERR_PIXART_OUT_OF_MEMORY";
    case StatusCode::kCancelled: return "ERR_PIXART_CANCELLED";
    case StatusCode::kUnsupported: return "ERR_PIXART_UNSUPPORTED";
    case StatusCode::kNoDevice: return "ERR_PIXART_NO_DEVICE";
    case StatusCode::kInternal: return "ERR_PIXART_INTERNAL";
  }
  return "ERR_PIXART_INTERNAL";
}

}  // namespace pixart
