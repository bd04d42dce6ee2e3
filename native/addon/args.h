// Argument readers for the native surface. TypeScript validates first (lib/); these checks
// are the second line, so a wrong call from JS throws a TypeError instead of crashing.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace pixart::addon {

inline Napi::Error TypeError(Napi::Env env, const std::string& msg) {
  Napi::Error e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_PIXART_INVALID_ARGUMENT"));
  return e;
}

inline std::string ArgString(const Napi::Value& v, const char* name) {
  if (!v.IsString()) throw TypeError(v.Env(), std::string(name) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline Shape ArgShape(const Napi::Value& v, const char* name, size_t rank) {
  if (!v.IsArray()) throw TypeError(v.Env(), std::string(name) + " must be an array of " + std::to_string(rank) + " integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != rank) throw TypeError(v.Env(), std::string(name) + " must have " + std::to_string(rank) + " dimensions");
  Shape s;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) throw TypeError(v.Env(), std::string(name) + " must hold integers");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 1 && x <= (1 << 24) && x == double(int64_t(x)))) {
      throw TypeError(v.Env(), std::string(name) + "[" + std::to_string(i) + "] must be a positive integer");
    }
    s.push_back(int64_t(x));
  }
  return s;
}

// Copies a typed array of element type T, checking its length when `expected` >= 0.
template <class T, napi_typedarray_type kType>
std::vector<T> ArgArray(const Napi::Value& v, const char* name, int64_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw TypeError(v.Env(), std::string(name) + (kType == napi_float32_array ? " must be a Float32Array" : " must be an Int32Array"));
  }
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  if (expected >= 0 && int64_t(a.ElementLength()) != expected) {
    throw TypeError(v.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " + std::to_string(expected));
  }
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

inline std::vector<float> ArgF32(const Napi::Value& v, const char* name, int64_t expected) {
  return ArgArray<float, napi_float32_array>(v, name, expected);
}
inline std::vector<int32_t> ArgI32(const Napi::Value& v, const char* name, int64_t expected) {
  return ArgArray<int32_t, napi_int32_array>(v, name, expected);
}

// { data: Float32Array | Uint8Array | ..., shape: number[] } — the explicit copy of a result into JS memory.
template <class T>
inline Napi::Object HostArrayObject(Napi::Env env, const std::vector<T>& data, const Shape& shape) {
  auto arr = Napi::TypedArrayOf<T>::New(env, data.size());
  std::copy(data.begin(), data.end(), arr.Data());
  Napi::Array s = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); i++) s.Set(uint32_t(i), Napi::Number::New(env, double(shape[i])));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", arr);
  o.Set("shape", s);
  return o;
}

}  // namespace pixart::addon
