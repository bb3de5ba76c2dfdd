/*
 * missing_entry.c: BREAKS the entry point. A perfectly valid shared library that does
 * not export `zoo_plugin_init` (ZOO_PLUGIN_ENTRY_SYMBOL). It exports a misspelled
 * `zoo_plugin_inti` instead, the kind of slip a plugin author makes, so the loader's
 * message can be checked to name the symbol it looked for.
 *
 * Expected: dlopen succeeds, dlsym(ZOO_PLUGIN_ENTRY_SYMBOL) fails, zood lists the plugin
 * as FAILED ("... does not export zoo_plugin_init ...") and keeps serving the others.
 *
 * Build (from the repository root; no protobuf-c needed):
 *   cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
 *      -I Sources/CZooPlugin/include Tests/Fixtures/bad-plugins/missing_entry.c -o missing_entry.so
 */
#include "zoo_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define FIXTURE_EXPORT __attribute__((visibility("default")))
#else
#define FIXTURE_EXPORT
#endif

FIXTURE_EXPORT int32_t zoo_plugin_inti(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

/* Never called by zood (it looks for zoo_plugin_init). If something does call it,
 * it fails loudly rather than pretending to be a plugin. */
FIXTURE_EXPORT int32_t zoo_plugin_inti(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err) {
  (void)host;
  if (out != NULL) *out = NULL;
  return zoo_error_set(err, ZOO_ERR_INTERNAL, "missing_entry: this fixture has no zoo_plugin_init; nothing should call this");
}
