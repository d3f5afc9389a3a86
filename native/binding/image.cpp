// decodeJpeg(bytes: Uint8Array, maxPixels) -> Promise<{data: Uint8Array [h, w, 3], width, height} | {why}>, decoded
// on the libuv pool (image/jpeg.h); loadJpegFiles(paths, dst, shape) -> Promise<Uint8Array>, a batch of JPEG files
// read, decoded and fitted to a model's input in one pool job; jpegDecoder() -> {available, reason?}.
#include <napi.h>

#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/bindings.h"
#include "image/fit.h"
#include "image/jpeg.h"
#include "image/read_file.h"

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

// What the files become: [height, width, channels] uint8 each, by PIL's NEAREST or (resize 'none') as they are.
struct FitShape {
  int height, width, channels;
  bool resize;
  double max_pixels;
  size_t max_bytes;
};

// One job for a batch: each file read, decoded and fitted into its slot of dst, on one pool thread, so a batch
// costs the JS thread one callback rather than a read, a decode and a resize per image. A file it does not
// fit (unreadable, not a plain YCbCr or grey JPEG, a warning, the wrong size for 'none'...) gets status 0 and
// is the caller's to decode by the general path, which words any error.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::vector<std::string> paths, Napi::Uint8Array dst, const FitShape& shape)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)),
        dst_ref_(Napi::Persistent(dst)),  // kept alive while the pool thread writes it
        dst_(dst.Data()),
        shape_(shape),
        status_(paths_.size(), 0) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      const size_t image = size_t(shape_.height) * shape_.width * shape_.channels;
      std::vector<uint8_t> bytes;                                    // [file size]
      std::vector<int32_t> xs(shape_.width), ys(shape_.height);    // source column / row of each output pixel
      for (size_t i = 0; i < paths_.size(); i++) {
        if (!image::read_regular_file(paths_[i].c_str(), shape_.max_bytes, bytes)) continue;
        if (bytes.size() < 3 || bytes[0] != 0xff || bytes[1] != 0xd8 || bytes[2] != 0xff) continue;
        const image::JpegImage img = image::decode_jpeg_rgb(bytes.data(), bytes.size(), shape_.max_pixels);
        if (!img.ok) continue;
        if (!shape_.resize && (img.width != shape_.width || img.height != shape_.height)) continue;
        // at the model's size PIL's NEAREST picks every pixel: the same bytes as a copy
        image::fit_nearest_pil(dst_ + i * image, img.rgb.data(), img.width, img.height, shape_.width, shape_.height,
                               shape_.channels, xs.data(), ys.data());
        status_[i] = 1;
      }
    } catch (const std::bad_alloc&) {
      // what is left (status 0) goes the general way
    }
  }
  void OnOK() override {
    Napi::Uint8Array done = Napi::Uint8Array::New(Env(), status_.size());
    std::copy(status_.begin(), status_.end(), done.Data());
    deferred_.Resolve(done);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  Napi::Reference<Napi::Uint8Array> dst_ref_;
  uint8_t* dst_;
  FitShape shape_;
  std::vector<uint8_t> status_;  // [files]: 1 fitted into dst, 0 left to the caller
};

}  // namespace

Napi::Value load_jpeg_files(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type(env, "paths must be an array of file paths");
  const Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::string> paths(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    const Napi::Value p = list.Get(i);
    if (!p.IsString()) throw_type(env, "paths[" + std::to_string(i) + "] must be a string");
    paths[i] = p.As<Napi::String>().Utf8Value();
    if (paths[i].find('\0') != std::string::npos) throw_range(env, "paths[" + std::to_string(i) + "] holds a NUL character");
  }
  const Napi::Object s = shape_object(info[2], "{height, width, channels, resize, maxPixels, maxBytes}");
  FitShape shape{shape_field(s, "height", 1, 1 << 16), shape_field(s, "width", 1, 1 << 16), 0, false, 0, 0};
  shape.channels = integer(s.Get("channels"), "shape.channels", 1, 3);
  if (shape.channels == 2) throw_range(env, "shape.channels must be 1 or 3, got 2");
  shape.resize = choice(s.Get("resize"), "shape.resize", {"pil-nearest", "none"}) == "pil-nearest";
  shape.max_pixels = number(s.Get("maxPixels"), "shape.maxPixels");
  if (!(shape.max_pixels >= 1)) throw_range(env, "shape.maxPixels must be at least 1");
  const double max_bytes = number(s.Get("maxBytes"), "shape.maxBytes");
  if (!(max_bytes >= 0 && max_bytes <= 9007199254740991.0)) throw_range(env, "shape.maxBytes must be a byte count");
  shape.max_bytes = size_t(max_bytes);
  const size_t need = paths.size() * size_t(shape.height) * shape.width * shape.channels;
  Napi::Uint8Array dst = typed<uint8_t>(info[1], "dst");
  if (dst.ElementLength() < need)
    throw_range(env, "dst must hold " + std::to_string(need) + " bytes (the files' images), got " + std::to_string(dst.ElementLength()));
  auto* w = new LoadWorker(env, std::move(paths), dst, shape);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

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
