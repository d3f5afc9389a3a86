// decodeJpeg(bytes: Uint8Array, maxPixels) -> Promise<{data: Uint8Array [h, w, 3], width, height} | {why}>, decoded
// on the libuv pool (image/jpeg.h); jpegDecoder() -> {available, reason?}.
#include <napi.h>

#include "binding/args.h"
#include "binding/bindings.h"
#include "image/jpeg.h"

namespace engine {
namespace {

class JpegWorker : public Napi::AsyncWorker {
 public:
  JpegWorker(Napi::Env env, Napi::Uint8Array bytes, double max_pixels)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        bytes_(Napi::Persistent(bytes)),  // kept alive while the pool thread reads it
        data_(bytes.Data()),
        size_(bytes.ByteLength()),
        max_pixels_(max_pixels) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      image_ = image::decode_jpeg_rgb(data_, size_, max_pixels_);
    } catch (const std::bad_alloc&) {
      image_ = image::JpegImage{};
      image_.why = "out of memory";
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    if (!image_.ok) {
      r.Set("why", image_.why);
    } else {
      Napi::Uint8Array data = Napi::Uint8Array::New(env, image_.rgb.size());
      std::copy(image_.rgb.begin(), image_.rgb.end(), data.Data());
      r.Set("data", data);
      r.Set("width", image_.width);
      r.Set("height", image_.height);
    }
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Uint8Array> bytes_;
  const uint8_t* data_;
  size_t size_;
  double max_pixels_;
  image::JpegImage image_;
};

}  // namespace

Napi::Value decode_jpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_type(env, "bytes must be a Uint8Array (or Buffer) of a JPEG file");
  const double max_pixels = number(info[1], "maxPixels");
  if (!(max_pixels >= 1)) throw_range(env, "maxPixels must be at least 1");
  auto* w = new JpegWorker(env, info[0].As<Napi::Uint8Array>(), max_pixels);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value jpeg_decoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  const std::string& why = image::jpeg_unavailable_reason();
  r.Set("available", why.empty());
  if (!why.empty()) r.Set("reason", why);
  return r;
}

}  // namespace engine
