#include "image/jpeg.h"

#if ENGINE_JPEG
#include <dlfcn.h>

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE

#include <jpeglib.h>
#endif

namespace engine::image {

#if ENGINE_JPEG
namespace {

// The few libjpeg entry points used, found in the shared library at run time: the addon then loads on machines
// without libjpeg (every image goes to sharp), and links no second copy of it.
struct Api {
  decltype(&jpeg_std_error) std_error = nullptr;
  decltype(&jpeg_CreateDecompress) create = nullptr;
  decltype(&jpeg_mem_src) mem_src = nullptr;
  decltype(&jpeg_read_header) read_header = nullptr;
  decltype(&jpeg_start_decompress) start = nullptr;
  decltype(&jpeg_read_scanlines) read_scanlines = nullptr;
  decltype(&jpeg_finish_decompress) finish = nullptr;
  decltype(&jpeg_destroy_decompress) destroy = nullptr;
};

constexpr const char* kLibrary = "libjpeg.so.62";

std::string load(Api& a) {
  void* lib = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::string(kLibrary) + " could not be opened (" + dlerror() + ")";
  bool missing = false;
  auto find = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    missing |= fn == nullptr;
  };
  find(a.std_error, "jpeg_std_error");
  find(a.create, "jpeg_CreateDecompress");
  find(a.mem_src, "jpeg_mem_src");
  find(a.read_header, "jpeg_read_header");
  find(a.start, "jpeg_start_decompress");
  find(a.read_scanlines, "jpeg_read_scanlines");
  find(a.finish, "jpeg_finish_decompress");
  find(a.destroy, "jpeg_destroy_decompress");
  if (missing) return std::string(kLibrary) + " lacks one of the libjpeg functions this decoder calls";
  return "";
}

struct Loaded {
  Api api;
  std::string why;
  Loaded() : why(load(api)) {}
};

const Loaded& loaded() {
  static const Loaded l;  // opened once, thread-safely, on first use
  return l;
}

// libjpeg reports errors through error_exit, which must not return: it jumps back to decode().
struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  int warnings = 0;
  char message[JMSG_LENGTH_MAX] = {0};
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  (*c->err->format_message)(c, e->message);
  longjmp(e->jump, 1);
}

// level -1: a warning (corrupt or truncated data); the others are trace messages. Nothing is printed.
void on_message(j_common_ptr c, int level) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  if (level < 0 && e->warnings++ == 0) (*c->err->format_message)(c, e->message);
}

// Everything decode() touches after a jump lives here, outside its frame (setjmp's rules for locals).
struct Job {
  const Api& api;
  const uint8_t* bytes;
  size_t size;
  double max_pixels;
  JpegImage& out;
  jpeg_decompress_struct c;
  ErrorManager err;
};

void decode(Job& j) {
  const Api& a = j.api;
  j.c.err = a.std_error(&j.err.pub);
  j.err.pub.error_exit = on_error;
  j.err.pub.emit_message = on_message;
  if (setjmp(j.err.jump)) {
    a.destroy(&j.c);
    j.out = JpegImage{};
    j.out.why = std::string("libjpeg: ") + j.err.message;
    return;
  }
  a.create(&j.c, JPEG_LIB_VERSION, sizeof(j.c));
  a.mem_src(&j.c, j.bytes, static_cast<unsigned long>(j.size));
  a.read_header(&j.c, TRUE);
  const double pixels = double(j.c.image_width) * j.c.image_height;
  if (j.c.jpeg_color_space != JCS_YCbCr && j.c.jpeg_color_space != JCS_GRAYSCALE) {
    j.out.why = "not a YCbCr or grey JPEG";
  } else if (pixels > j.max_pixels) {
    j.out.why = "above the pixel limit";
  } else {
    j.c.out_color_space = JCS_RGB;
    a.start(&j.c);
    if (j.c.output_components != 3) {
      j.out.why = "decoded to " + std::to_string(j.c.output_components) + " components";
    } else {
      const size_t row = size_t(j.c.output_width) * 3;
      j.out.rgb.resize(row * j.c.output_height);  // [height, width, 3]
      while (j.c.output_scanline < j.c.output_height) {
        JSAMPROW line = j.out.rgb.data() + row * j.c.output_scanline;
        a.read_scanlines(&j.c, &line, 1);
      }
      a.finish(&j.c);
      if (j.err.warnings > 0) {
        j.out.why = std::string("libjpeg warned: ") + j.err.message;
      } else {
        j.out.ok = true;
        j.out.width = int(j.c.output_width);
        j.out.height = int(j.c.output_height);
      }
    }
  }
  a.destroy(&j.c);
  if (!j.out.ok) j.out.rgb = {};
}

}  // namespace

const std::string& jpeg_unavailable_reason() { return loaded().why; }

JpegImage decode_jpeg_rgb(const uint8_t* bytes, size_t size, double max_pixels) {
  JpegImage out;
  const Loaded& l = loaded();
  if (!l.why.empty()) {
    out.why = l.why;
    return out;
  }
  Job job{l.api, bytes, size, max_pixels, out, {}, {}};
  decode(job);
  return out;
}

#else  // built without jpeglib.h

const std::string& jpeg_unavailable_reason() {
  static const std::string why = "the addon was built without jpeglib.h (install libjpeg62-turbo-dev and rebuild)";
  return why;
}

JpegImage decode_jpeg_rgb(const uint8_t*, size_t, double) {
  JpegImage out;
  out.why = jpeg_unavailable_reason();
  return out;
}

#endif

}  // namespace engine::image
