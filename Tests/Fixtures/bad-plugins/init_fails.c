/*
 * init_fails.c: BREAKS initialisation. Exports a correct `zoo_plugin_init` that always
 * fails: it returns ZOO_ERR_FAILED_PRECONDITION, writes a message into the caller's
 * zoo_error, and leaves *out NULL (as a plugin whose required resource is missing).
 *
 * Expected: zood lists the plugin as FAILED with the plugin's own message (the text
 * below, so a test can match "init_fails: refusing to initialise") and never touches
 * *out. It also logs one line through the host's log slot first, to show that host
 * services work during init.
 *
 * Build (from the repository root; no protobuf-c needed):
 *   cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
 *      -I Sources/CZooPlugin/include Tests/Fixtures/bad-plugins/init_fails.c -o init_fails.so
 */
#include "zoo_plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define FIXTURE_EXPORT __attribute__((visibility("default")))
#else
#define FIXTURE_EXPORT
#endif

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

FIXTURE_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err) {
  if (out != NULL) *out = NULL;
  if (ZOO_HAS_FIELD(host, log) && host->log != NULL) {
    host->log(host->host_context, ZOO_LOG_ERROR, "init_fails: about to fail on purpose (test fixture)");
  }
  return zoo_error_set(err, ZOO_ERR_FAILED_PRECONDITION,
                       "init_fails: refusing to initialise, as this test fixture always does "
                       "(a real plugin would say which resource is missing and how to provide it)");
}
