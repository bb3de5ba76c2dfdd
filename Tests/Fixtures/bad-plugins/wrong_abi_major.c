/*
 * wrong_abi_major.c: BREAKS the ABI version. The plugin table says
 * abi_major = ZOO_ABI_MAJOR + 1, i.e. it claims to be built against a future,
 * incompatible ABI. Everything else is right: `size`, the slots, and a valid
 * manifest whose abi_major/abi_minor equal the table's (as plugin.proto requires),
 * so the ONLY fault is the major version.
 *
 * Expected: zood refuses it from the table's first three fields alone (size,
 * abi_major, abi_minor), lists it as FAILED ("... built for plugin ABI 2.x, zood
 * speaks 1.x ..."), and calls nothing else in the table: with a different major the
 * rest of the layout cannot be trusted. model_api/decoder_api return NULL anyway.
 *
 * Build (from the repository root; no protobuf-c needed, the manifest is written by
 * the small encoder below):
 *   cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
 *      -I Sources/CZooPlugin/include Tests/Fixtures/bad-plugins/wrong_abi_major.c -o wrong_abi_major.so
 */
#include <string.h>

#include "zoo_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define FIXTURE_EXPORT __attribute__((visibility("default")))
#else
#define FIXTURE_EXPORT
#endif

#define FIXTURE_ABI_MAJOR (ZOO_ABI_MAJOR + 1)

/* A minimal protobuf writer (varint and length-delimited fields), enough for a
 * manifest, so the fixture needs no protobuf library. */
typedef struct {
  uint8_t *buf;
  size_t cap, len;
  int overflow;
} pb_writer;

static void pb_byte(pb_writer *w, uint8_t b) {
  if (w->len < w->cap) w->buf[w->len++] = b;
  else w->overflow = 1;
}
static void pb_varint(pb_writer *w, uint64_t v) {
  while (v >= 0x80) {
    pb_byte(w, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  pb_byte(w, (uint8_t)v);
}
static void pb_uint(pb_writer *w, uint32_t field, uint64_t v) {
  pb_varint(w, (uint64_t)field << 3 | 0); /* wire type 0: varint */
  pb_varint(w, v);
}
static void pb_bytes(pb_writer *w, uint32_t field, const void *data, size_t n) {
  pb_varint(w, (uint64_t)field << 3 | 2); /* wire type 2: length-delimited */
  pb_varint(w, n);
  for (size_t i = 0; i < n; i++) pb_byte(w, ((const uint8_t *)data)[i]);
}
static void pb_string(pb_writer *w, uint32_t field, const char *s) { pb_bytes(w, field, s, strlen(s)); }

/* Static: the table's pointers must outlive init (zoo_plugin.h ownership rules). */
static uint8_t manifest[512];

static const zoo_model_api *no_model(const char *model_type) {
  (void)model_type;
  return NULL;
}
static const zoo_decoder_api *no_decoder(const char *decoder) {
  (void)decoder;
  return NULL;
}

static zoo_plugin plugin;

/* zoo.v1.PluginManifest field numbers: name 1, version 2, abi_major 3, abi_minor 4,
 * description 5, model_types 7, source 10. ModelType: model_type 1, description 2,
 * capabilities 4. Capabilities: causality 1 (CAUSAL = 1), state_growth 3 (NONE = 3),
 * decode_cost 4. */
static size_t write_manifest(void) {
  uint8_t caps_buf[64], type_buf[192];
  pb_writer caps = {caps_buf, sizeof caps_buf, 0, 0};
  pb_uint(&caps, 1, 1);
  pb_uint(&caps, 3, 3);
  pb_string(&caps, 4, "not applicable");
  pb_writer type = {type_buf, sizeof type_buf, 0, 0};
  pb_string(&type, 1, "wrong_abi_major_model");
  pb_string(&type, 2, "A model type declared only so the manifest is complete; never built.");
  pb_bytes(&type, 4, caps_buf, caps.len);

  pb_writer m = {manifest, sizeof manifest, 0, 0};
  pb_string(&m, 1, "wrong_abi_major");
  pb_string(&m, 2, "0.1.0");
  pb_uint(&m, 3, FIXTURE_ABI_MAJOR); /* equal to the table, as plugin.proto requires */
  pb_uint(&m, 4, ZOO_ABI_MINOR);
  pb_string(&m, 5, "Test fixture: a plugin built against a future ABI major; zood must refuse it.");
  pb_bytes(&m, 7, type_buf, type.len);
  pb_string(&m, 10, "Tests/Fixtures/bad-plugins/wrong_abi_major.c in the zoo repository.");
  return (caps.overflow || type.overflow || m.overflow) ? 0 : m.len;
}

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err) {
  (void)host;
  if (out == NULL) return zoo_error_set(err, ZOO_ERR_INVALID_ARGUMENT, "wrong_abi_major: no output pointer");
  *out = NULL;
  size_t len = write_manifest();
  if (len == 0) return zoo_error_set(err, ZOO_ERR_INTERNAL, "wrong_abi_major: manifest buffer too small");
  plugin.size = sizeof plugin;
  plugin.abi_major = FIXTURE_ABI_MAJOR; /* the fault */
  plugin.abi_minor = ZOO_ABI_MINOR;
  plugin.manifest = manifest;
  plugin.manifest_len = len;
  plugin.model_api = no_model;
  plugin.decoder_api = no_decoder;
  *out = &plugin;
  return ZOO_OK;
}
