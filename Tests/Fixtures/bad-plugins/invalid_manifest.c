/*
 * invalid_manifest.c: BREAKS the manifest encoding. The plugin table is otherwise
 * correct (size, ABI ZOO_ABI_MAJOR.ZOO_ABI_MINOR, non-NULL slots), but its manifest
 * bytes are not a valid protobuf: they start with a well-formed `name` field ("bad")
 * and end in the middle of a varint (field 3, abi_major, whose value bytes all have
 * the continuation bit set and then the data runs out).
 *
 * Expected: zood's PluginManifest parse fails, the plugin is listed as FAILED
 * ("... manifest is not a valid zoo.v1.PluginManifest ..."), and zood calls neither
 * model_api nor decoder_api.
 *
 * Build (from the repository root; no protobuf-c needed):
 *   cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
 *      -I Sources/CZooPlugin/include Tests/Fixtures/bad-plugins/invalid_manifest.c -o invalid_manifest.so
 */
#include "zoo_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define FIXTURE_EXPORT __attribute__((visibility("default")))
#else
#define FIXTURE_EXPORT
#endif

/* Static: the table's pointers must outlive init (zoo_plugin.h ownership rules). */
static const uint8_t manifest[] = {
    0x0a, 0x03, 'b', 'a', 'd', /* field 1 (name), length-delimited, 3 bytes: "bad" */
    0x18,                      /* field 3 (abi_major), varint ... */
    0xff, 0xff,                /* ... continuation bit set on every byte: truncated */
};

static const zoo_model_api *no_model(const char *model_type) {
  (void)model_type;
  return NULL;
}
static const zoo_decoder_api *no_decoder(const char *decoder) {
  (void)decoder;
  return NULL;
}

static const zoo_plugin plugin = {
    .size = sizeof(zoo_plugin),
    .abi_major = ZOO_ABI_MAJOR,
    .abi_minor = ZOO_ABI_MINOR,
    .manifest = manifest,
    .manifest_len = sizeof manifest,
    .model_api = no_model,
    .decoder_api = no_decoder,
};

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err) {
  (void)host;
  if (out == NULL) return zoo_error_set(err, ZOO_ERR_INVALID_ARGUMENT, "invalid_manifest: no output pointer");
  *out = &plugin;
  return ZOO_OK;
}
