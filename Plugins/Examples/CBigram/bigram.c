/*
 * bigram.c: "cbigram", a zood plugin written in plain C11.
 *
 * Why it exists: zood's plugin contract is the C ABI in
 * Sources/CZooPlugin/include/zoo_plugin.h plus two protobuf messages
 * (zoo.v1.PluginManifest out, zoo.v1.GenerateOptions in). This file implements that
 * contract without any Swift, using only libc, libm and libprotobuf-c, to prove the
 * ABI is language-neutral. It is small, but it is a real plugin: zood can load it,
 * serve the `bigram` model type and drive any causal model with `greedy_c`.
 *
 * What it provides
 *   - Model type `bigram`: next-token logits depend only on the current token:
 *         logits(row r) = table[token at row r]          (table = weight
 *     "bigram.logits", F32, shape [V, V], V = config.json "vocab_size").
 *   - Decoder `greedy_c`: argmax decoding through any zoo_model_api it is handed
 *     (also models from other plugins), with logprobs and top-n alternatives.
 *
 * Build (from the repository root; Plugins/Examples/CBigram/build.sh does this):
 *   cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
 *      -I Sources/CZooPlugin/include -I Plugins/Examples/CBigram \
 *      Plugins/Examples/CBigram/bigram.c Plugins/Examples/CBigram/zoo/v1/plugin.pb-c.c \
 *      Plugins/Examples/CBigram/zoo/v1/zoo.pb-c.c -lprotobuf-c -lm -o libcbigram.so
 *
 * Ownership, in one place (zoo_plugin.h has the general rules):
 *   - The zoo_plugin, zoo_model_api and zoo_decoder_api tables and the manifest bytes
 *     are static: zood keeps pointers to them for the life of the process.
 *   - A zoo_model is malloc'd by bigram_load and freed by bigram_unload. It BORROWS
 *     the weight data (a pointer into zood's read-only copy of the safetensors file),
 *     which zood keeps valid until unload returns. Nothing is copied.
 *   - A zoo_state is malloc'd by state_new/state_copy and freed by state_free; it
 *     holds no pointers.
 *   - greedy_c owns everything it allocates (options message, logits buffer, the
 *     state it creates through the model's table) and frees it on every path.
 *
 * Threading: the only mutable globals are written once, in zoo_plugin_init, which
 * zood calls once on the loading thread before anything else. A loaded model is
 * read-only; each call mutates only the zoo_state it is given, and zood never uses
 * one state from two calls at once. So every entry point is reentrant.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoo_plugin.h"
#include "zoo/v1/plugin.pb-c.h"
#include "zoo/v1/zoo.pb-c.h"

/* Built with -fvisibility=hidden so that only the entry point is exported (the
 * protobuf-c generated symbols stay private to this library). */
#if defined(__GNUC__) || defined(__clang__)
#define CB_EXPORT __attribute__((visibility("default")))
#else
#define CB_EXPORT
#endif

/* The names can be changed by a file that includes this one (the fault-injection test
 * fixture Tests/Fixtures/bad-plugins/faulty_forward.c does), as can the hook below. */
#ifndef CB_PLUGIN_NAME
#define CB_PLUGIN_NAME "cbigram"
#define CB_MODEL_TYPE "bigram"
#define CB_DECODER "greedy_c"
#endif
/* Called with each forward's tokens before the math; nothing here. */
#ifndef CB_FORWARD_HOOK
#define CB_FORWARD_HOOK(tokens, n) ((void)0)
#endif
#define CB_WEIGHT "bigram.logits"
#define CB_DEFAULT_MAX_TOKENS 128 /* GenerateOptions.max_tokens 0 means this */
#define CB_MAX_LOGPROBS 20        /* GenerateOptions.logprobs is at most 20 */

/* The host table from init. Written once in zoo_plugin_init (before any other call,
 * on the loading thread) and only read afterwards. Borrowed: zood owns it and keeps
 * it valid for the life of the process. */
static const zoo_host_api *g_host;

/* ---------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------ */

/* printf-style zoo_error_set. The message is formatted into a stack buffer and then
 * copied into the caller-owned zoo_error (truncated to fit); we never keep `err`. */
static int32_t cb_fail(zoo_error *err, int32_t code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int32_t cb_fail(zoo_error *err, int32_t code, const char *fmt, ...) {
  char msg[sizeof(((zoo_error *)0)->message)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return zoo_error_set(err, code, msg);
}

/* Logs through the host, if it gave us a log slot. The message is borrowed by the
 * host for the duration of the call only, so a stack buffer is fine. */
static void cb_log(int32_t level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void cb_log(int32_t level, const char *fmt, ...) {
  if (!ZOO_HAS_FIELD(g_host, log) || g_host->log == NULL) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  g_host->log(g_host->host_context, level, msg);
}

static const char *cb_dtype_name(int32_t dtype) {
  switch (dtype) {
  case ZOO_DTYPE_F32: return "F32";
  case ZOO_DTYPE_F16: return "F16";
  case ZOO_DTYPE_BF16: return "BF16";
  case ZOO_DTYPE_I64: return "I64";
  case ZOO_DTYPE_I32: return "I32";
  default: return "an unknown dtype";
  }
}

/* ---------------------------------------------------------------------------------
 * config.json: reading one integer key without a JSON library
 *
 * This is a C example that deliberately depends on nothing but libc and protobuf-c,
 * so it has no JSON parser. Instead it scans the text for ONE top-level key and
 * parses its value as a JSON integer. It is careful rather than complete:
 *   - strings are skipped as whole tokens (escapes included), so a "vocab_size"
 *     inside a string value or inside a nested object ("text_config": {...}) is
 *     never mistaken for the top-level key;
 *   - only a plain integer value is accepted (no quotes, fraction or exponent),
 *     and it must fit in int64;
 *   - a duplicated key is refused rather than guessed at;
 *   - a key spelled with escapes ("vocab\u005fsize") is not recognised.
 * It does not validate the rest of the document's grammar: zood has already parsed
 * config.json to find "model_type", so the text is valid JSON in practice.
 * Anything this scan cannot read is refused with a sentence saying what and why.
 * ------------------------------------------------------------------------------ */

typedef enum { CB_CFG_OK = 0, CB_CFG_MISSING = 1, CB_CFG_BAD = 2 } cb_cfg_result;

static const char *cb_skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

/* `p` points at an opening quote. Returns the position just past the closing quote,
 * or NULL when the string is unterminated or holds a raw control character (both
 * invalid JSON). Sets *is_key when the string's raw text equals `key` exactly. */
static const char *cb_skip_string(const char *p, const char *key, int *is_key) {
  const char *start = ++p;
  int escaped = 0;
  for (;;) {
    unsigned char c = (unsigned char)*p;
    if (c == '\0' || c < 0x20) return NULL;
    if (c == '\\') {
      escaped = 1;
      if (p[1] == '\0') return NULL;
      p += 2; /* the escaped character; \uXXXX's hex digits are ordinary chars */
      continue;
    }
    if (c == '"') break;
    p++;
  }
  size_t n = (size_t)(p - start);
  *is_key = !escaped && strlen(key) == n && memcmp(start, key, n) == 0;
  return p + 1;
}

/* Finds top-level `key` in `json` and parses its value as a JSON integer.
 * CB_CFG_OK: *out set. CB_CFG_MISSING: no such key. CB_CFG_BAD: `why` says why. */
static cb_cfg_result cb_config_int(const char *json, const char *key, int64_t *out, char *why,
                                   size_t why_len) {
  const char *p = cb_skip_ws(json);
  if (*p != '{') {
    snprintf(why, why_len, "config.json is not a JSON object (it must start with '{')");
    return CB_CFG_BAD;
  }
  int depth = 0; /* nesting of {} and []; 1 = inside the top-level object */
  int found = 0;
  int64_t value = 0;
  while (*p != '\0') {
    char c = *p;
    if (c == '"') {
      int is_key = 0;
      const char *after = cb_skip_string(p, key, &is_key);
      if (after == NULL) {
        snprintf(why, why_len, "config.json has an unterminated string or a raw control character in a string");
        return CB_CFG_BAD;
      }
      const char *q = cb_skip_ws(after);
      /* Inside the top-level object, a string followed by ':' is a member name. */
      if (depth == 1 && *q == ':' && is_key) {
        if (found) {
          snprintf(why, why_len, "config.json has the key \"%s\" twice; keep one", key);
          return CB_CFG_BAD;
        }
        q = cb_skip_ws(q + 1);
        const char *num = q;
        int negative = 0;
        if (*q == '-') {
          negative = 1;
          q++;
        }
        if (*q < '0' || *q > '9') {
          snprintf(why, why_len, "config.json \"%s\" must be an integer, but its value starts with '%.16s'",
                   key, num);
          return CB_CFG_BAD;
        }
        if (*q == '0' && q[1] >= '0' && q[1] <= '9') {
          snprintf(why, why_len, "config.json \"%s\" has a leading zero, which JSON does not allow", key);
          return CB_CFG_BAD;
        }
        int64_t v = 0;
        for (; *q >= '0' && *q <= '9'; q++) {
          int d = *q - '0';
          if (v > (INT64_MAX - d) / 10) {
            snprintf(why, why_len, "config.json \"%s\" is too large for a 64-bit integer", key);
            return CB_CFG_BAD;
          }
          v = v * 10 + d;
        }
        if (*q == '.' || *q == 'e' || *q == 'E') {
          snprintf(why, why_len, "config.json \"%s\" must be a whole number without fraction or exponent, got '%.24s'",
                   key, num);
          return CB_CFG_BAD;
        }
        const char *end = cb_skip_ws(q);
        if (*end != ',' && *end != '}') {
          snprintf(why, why_len, "config.json \"%s\" is followed by unexpected text '%.16s'", key, end);
          return CB_CFG_BAD;
        }
        found = 1;
        value = negative ? -v : v;
        p = q;
        continue;
      }
      p = after;
      continue;
    }
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      depth--;
      if (depth < 0) break;
      if (depth == 0) {
        p++;
        break;
      }
    }
    p++;
  }
  if (depth != 0) {
    snprintf(why, why_len, "config.json is truncated or its brackets do not balance");
    return CB_CFG_BAD;
  }
  if (*cb_skip_ws(p) != '\0') {
    snprintf(why, why_len, "config.json has text after its top-level object");
    return CB_CFG_BAD;
  }
  if (!found) return CB_CFG_MISSING;
  *out = value;
  return CB_CFG_OK;
}

/* ---------------------------------------------------------------------------------
 * The bigram model
 * ------------------------------------------------------------------------------ */

struct zoo_model {
  int64_t vocab;              /* V */
  /* The [V, V] F32 table, row-major. BORROWED from zood's copy of the safetensors
   * file (valid until bigram_unload returns); never written, never freed here.
   * Read through memcpy, so it need not be 4-byte aligned. */
  const unsigned char *table;
};

/* Per-sequence state: only the number of tokens consumed.
 *
 * A first guess is {last token, length}, on the idea that the next logits need the
 * last token. They do, but that token always arrives IN the forward call: the
 * logits of row r are table[tokens[r]], the row that predicts what follows token r.
 * Nothing a later forward computes depends on earlier calls, so the state carries
 * no token at all. This matters for truncate: a stored "last token" would go stale
 * when truncating to L > 0 (the state would then need the token at L-1, i.e. the
 * whole token history in a growable array). Keeping only the length makes copy and
 * truncate exact and the state a fixed 8 bytes (STATE_GROWTH_FIXED).
 *
 * The length is still real state: it defines the positions the next tokens take
 * (forward checks explicit positions against it) and is what state_length reports. */
struct zoo_state {
  int64_t length;
};

static int32_t bigram_load(const zoo_model_load_args *args, zoo_model **out, zoo_error *err) {
  if (out == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: load called without an output pointer");
  *out = NULL;
  if (!ZOO_HAS_FIELD(args, weights)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: load arguments are missing or too short (size %u)",
                   args ? (unsigned)args->size : 0u);
  }
  if (args->model_type == NULL || strcmp(args->model_type, CB_MODEL_TYPE) != 0) {
    return cb_fail(err, ZOO_ERR_NOT_FOUND, "cbigram: cannot build model_type '%s'; this plugin builds only '%s'",
                   args->model_type ? args->model_type : "(null)", CB_MODEL_TYPE);
  }
  if (args->config_json == NULL) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: load was given no config.json text");
  }

  /* vocab_size from config.json (see cb_config_int for what the scan accepts). */
  int64_t vocab = 0;
  char why[256];
  switch (cb_config_int(args->config_json, "vocab_size", &vocab, why, sizeof why)) {
  case CB_CFG_OK: break;
  case CB_CFG_MISSING:
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                   "cbigram: config.json lacks the required integer key \"vocab_size\" (the bigram table is "
                   "vocab_size x vocab_size)");
  default: return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: %s", why);
  }
  /* Token ids are int32, so V <= INT32_MAX; and V*V*4 bytes must be addressable. */
  if (vocab < 1 || vocab > INT32_MAX) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: config.json vocab_size is %lld; it must be in 1...%d",
                   (long long)vocab, INT32_MAX);
  }
  if ((uint64_t)vocab > (uint64_t)(SIZE_MAX / sizeof(float)) / (uint64_t)vocab ||
      (uint64_t)vocab > (uint64_t)(INT64_MAX / (int64_t)sizeof(float)) / (uint64_t)vocab) {
    return cb_fail(err, ZOO_ERR_RESOURCE_EXHAUSTED,
                   "cbigram: a %lld x %lld float table does not fit in this process's address space",
                   (long long)vocab, (long long)vocab);
  }

  /* Find the weight by name. */
  const zoo_weights *w = args->weights;
  if (!ZOO_HAS_FIELD(w, tensors) || w->count < 0 || (w->count > 0 && (w->names == NULL || w->tensors == NULL))) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: load was given a malformed zoo_weights table");
  }
  /* Indexed as the header declares it: an array of zoo_tensor_view as WE compiled
   * it (the Swift SDK does the same). */
  const zoo_tensor_view *t = NULL;
  for (int64_t i = 0; i < w->count; i++) {
    if (w->names[i] != NULL && strcmp(w->names[i], CB_WEIGHT) == 0) {
      t = &w->tensors[i];
      break;
    }
  }
  if (t == NULL) {
    return cb_fail(err, ZOO_ERR_NOT_FOUND,
                   "cbigram: weight '%s' (F32 [vocab_size, vocab_size]) is missing from the model's safetensors "
                   "files (%lld tensors found)",
                   CB_WEIGHT, (long long)w->count);
  }

  if (!ZOO_HAS_FIELD(t, data)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: the host's view of '%s' is too short (size %u)",
                   CB_WEIGHT, (unsigned)t->size);
  }
  /* Check it is exactly what we will read: F32, [V, V], row-major contiguous. */
  if (t->dtype != ZOO_DTYPE_F32) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                   "cbigram: weight '%s' has dtype %s (%d); this plugin reads only F32, convert the checkpoint",
                   CB_WEIGHT, cb_dtype_name(t->dtype), (int)t->dtype);
  }
  if (t->rank != 2) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: weight '%s' has rank %d; it must be 2 ([%lld, %lld])",
                   CB_WEIGHT, (int)t->rank, (long long)vocab, (long long)vocab);
  }
  if (t->shape[0] != vocab || t->shape[1] != vocab) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                   "cbigram: weight '%s' has shape [%lld, %lld] but config.json vocab_size %lld implies [%lld, %lld]; "
                   "the checkpoint does not match its config",
                   CB_WEIGHT, (long long)t->shape[0], (long long)t->shape[1], (long long)vocab, (long long)vocab,
                   (long long)vocab);
  }
  if (t->strides[0] != vocab || t->strides[1] != 1) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                   "cbigram: weight '%s' has strides [%lld, %lld]; this plugin needs row-major contiguous [%lld, 1]",
                   CB_WEIGHT, (long long)t->strides[0], (long long)t->strides[1], (long long)vocab);
  }
  if (t->data == NULL) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: weight '%s' has no data pointer", CB_WEIGHT);
  }

  zoo_model *m = malloc(sizeof *m);
  if (m == NULL) return cb_fail(err, ZOO_ERR_RESOURCE_EXHAUSTED, "cbigram: out of memory allocating the model");
  m->vocab = vocab;
  m->table = t->data; /* borrowed, see struct zoo_model */
  *out = m;
  cb_log(ZOO_LOG_DEBUG, "cbigram: loaded a bigram model with vocab_size %lld (borrowing %lld bytes of weights)",
         (long long)vocab, (long long)(vocab * vocab * (int64_t)sizeof(float)));
  return ZOO_OK;
}

/* zood calls this exactly once per successful load. Only the model struct is ours;
 * the weight data belongs to zood. */
static void bigram_unload(zoo_model *model) { free(model); }

static int32_t bigram_describe(const zoo_model *model, zoo_model_info *info) {
  if (model == NULL || info == NULL) return ZOO_ERR_INVALID_ARGUMENT;
  /* `info` is caller-owned and its `size` says how much of it the caller has: write
   * only the fields that fit, and leave `size` as the caller set it. */
  if (ZOO_HAS_FIELD(info, vocab_size)) info->vocab_size = model->vocab;
  if (ZOO_HAS_FIELD(info, hidden_size)) info->hidden_size = 0; /* no hidden states */
  if (ZOO_HAS_FIELD(info, max_positions)) info->max_positions = 0; /* unbounded */
  /* Causal only. (forward also accepts a bidirectional mask over a single token,
   * where it means the same thing; see bigram_forward.) */
  if (ZOO_HAS_FIELD(info, mask_kinds)) info->mask_kinds = 1 << ZOO_MASK_CAUSAL;
  if (ZOO_HAS_FIELD(info, state_is_fixed)) info->state_is_fixed = 1; /* see struct zoo_state */
  if (ZOO_HAS_FIELD(info, state_bytes)) info->state_bytes = (int64_t)sizeof(zoo_state); /* fixed, 8 */
  if (ZOO_HAS_FIELD(info, weight_bytes)) info->weight_bytes = model->vocab * model->vocab * (int64_t)sizeof(float);
  return ZOO_OK;
}

static int32_t bigram_state_new(const zoo_model *model, zoo_state **out, zoo_error *err) {
  (void)model;
  if (out == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: state_new called without an output pointer");
  *out = NULL;
  zoo_state *st = calloc(1, sizeof *st); /* empty: length 0 */
  if (st == NULL) return cb_fail(err, ZOO_ERR_RESOURCE_EXHAUSTED, "cbigram: out of memory allocating a state");
  *out = st;
  return ZOO_OK;
}

static void bigram_state_free(const zoo_model *model, zoo_state *state) {
  (void)model;
  free(state);
}

/* The header gives this call no error channel; a NULL state reports -1. */
static int64_t bigram_state_length(const zoo_model *model, const zoo_state *state) {
  (void)model;
  return state ? state->length : -1;
}

static int32_t bigram_state_copy(const zoo_model *model, const zoo_state *src, zoo_state **out, zoo_error *err) {
  (void)model;
  if (src == NULL || out == NULL) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: state_copy needs a source state and an output pointer");
  }
  *out = NULL;
  zoo_state *st = malloc(sizeof *st);
  if (st == NULL) return cb_fail(err, ZOO_ERR_RESOURCE_EXHAUSTED, "cbigram: out of memory copying a state");
  *st = *src; /* a deep copy: the state holds no pointers */
  *out = st;
  return ZOO_OK;
}

/* Exact: the state after the first `length` tokens is just that length (see struct
 * zoo_state for why no token needs to be restored). */
static int32_t bigram_state_truncate(const zoo_model *model, zoo_state *state, int64_t length, zoo_error *err) {
  (void)model;
  if (state == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: state_truncate called without a state");
  if (length < 0) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: cannot truncate a state to a negative length (%lld)",
                   (long long)length);
  }
  if (length > state->length) {
    return cb_fail(err, ZOO_ERR_OUT_OF_RANGE,
                   "cbigram: cannot truncate a state of %lld tokens to %lld tokens; truncate only shortens",
                   (long long)state->length, (long long)length);
  }
  state->length = length;
  return ZOO_OK;
}

/* Appends args->tokens to `state` and writes the requested logit rows.
 * Everything is validated before anything is written, so on any error the state
 * and the caller's buffers are left untouched. */
static int32_t bigram_forward(const zoo_model *model, zoo_state *state, const zoo_forward_args *args,
                              zoo_error *err) {
  if (model == NULL || state == NULL) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: forward needs a model and a state");
  }
  /* Every field up to `hidden` exists since ABI 1.0; `request` is not used here. */
  if (!ZOO_HAS_FIELD(args, hidden)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: forward arguments are missing or too short (size %u)",
                   args ? (unsigned)args->size : 0u);
  }
  const int64_t V = model->vocab;
  const int64_t n = args->n_tokens;
  if (n < 0 || (n > 0 && args->tokens == NULL)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: forward got %lld tokens%s", (long long)n,
                   n > 0 ? " but no token array" : "");
  }

  /* Mask. Row r's logits depend on token r alone, which is exactly causal
   * attention for a bigram. A bidirectional mask would let row r see later rows,
   * which a bigram cannot use; over a single new token the two masks coincide, so
   * that case is accepted. Block-causal is refused. */
  switch (args->mask_kind) {
  case ZOO_MASK_CAUSAL: break;
  case ZOO_MASK_BIDIRECTIONAL:
    if (n <= 1) break;
    return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION,
                   "cbigram: a bigram model is causal; a bidirectional mask is accepted only for a single token "
                   "(got %lld)",
                   (long long)n);
  case ZOO_MASK_BLOCK_CAUSAL:
    return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION, "cbigram: a bigram model supports only the causal mask, "
                                                     "not block-causal");
  default:
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: unknown mask kind %d", (int)args->mask_kind);
  }

  if (args->hidden != NULL) {
    return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION,
                   "cbigram: a bigram model has no hidden states (hidden_size 0); pass hidden = NULL");
  }

  /* Positions: a bigram has no positional input, so only the natural positions
   * (state length, state length + 1, ...) are meaningful. */
  if (args->positions != NULL) {
    for (int64_t i = 0; i < n; i++) {
      if (args->positions[i] != state->length + i) {
        return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION,
                       "cbigram: token %lld has position %lld, but a bigram model takes only contiguous positions "
                       "from the state length (%lld); pass positions = NULL",
                       (long long)i, (long long)args->positions[i], (long long)(state->length + i));
      }
    }
  }

  /* Logit rows. With logits == NULL nothing is written, so the rows do not matter. */
  int64_t rows = 0;
  if (args->logits != NULL) {
    if (args->logit_rows == NULL) {
      if (args->n_logit_rows != n) {
        return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                       "cbigram: logit_rows is NULL (all rows) but n_logit_rows is %lld, not n_tokens %lld",
                       (long long)args->n_logit_rows, (long long)n);
      }
    } else {
      if (args->n_logit_rows < 0) {
        return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: n_logit_rows is negative (%lld)",
                       (long long)args->n_logit_rows);
      }
      for (int64_t r = 0; r < args->n_logit_rows; r++) {
        if (args->logit_rows[r] < 0 || args->logit_rows[r] >= n) {
          return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                         "cbigram: logit_rows[%lld] = %lld is not a row of the %lld tokens", (long long)r,
                         (long long)args->logit_rows[r], (long long)n);
        }
      }
    }
    rows = args->n_logit_rows;
  }

  for (int64_t i = 0; i < n; i++) {
    if (args->tokens[i] < 0 || (int64_t)args->tokens[i] >= V) {
      return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: token %lld has id %d, outside the vocabulary 0..%lld",
                     (long long)i, (int)args->tokens[i], (long long)(V - 1));
    }
  }

  if (n > INT64_MAX - state->length) {
    return cb_fail(err, ZOO_ERR_OUT_OF_RANGE, "cbigram: the sequence would be longer than 2^63-1 tokens");
  }

  CB_FORWARD_HOOK(args->tokens, n);

  /* The math: logits(row r) = table[token at row r]. One row copy each. */
  const size_t row_bytes = (size_t)V * sizeof(float);
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = args->logit_rows ? args->logit_rows[r] : r;
    memcpy(args->logits + (size_t)r * (size_t)V, model->table + (size_t)args->tokens[i] * row_bytes, row_bytes);
  }
  state->length += n;
  return ZOO_OK;
}

static const zoo_model_api g_bigram_api = {
    .size = sizeof(zoo_model_api),
    .load = bigram_load,
    .unload = bigram_unload,
    .describe = bigram_describe,
    .state_new = bigram_state_new,
    .state_free = bigram_state_free,
    .state_length = bigram_state_length,
    .state_copy = bigram_state_copy,
    .state_truncate = bigram_state_truncate,
    .forward = bigram_forward,
};

/* ---------------------------------------------------------------------------------
 * The greedy_c decoder: drives ANY causal model through the zoo_model_api it is
 * given (not only bigram), one token per step.
 * ------------------------------------------------------------------------------ */

/* Non-zero when the host says the request was cancelled. */
static int cb_cancelled(const zoo_decode_args *a) {
  return ZOO_HAS_FIELD(a->host, is_cancelled) && a->host->is_cancelled != NULL &&
         a->host->is_cancelled(a->host->host_context, a->request) != 0;
}

/* Runs one forward through the model's table, writing one logit row (the last
 * token's) into `logits`. Prefixes the model's own error message with context. */
static int32_t cb_step(const zoo_decode_args *a, zoo_state *st, const int32_t *tokens, int64_t n, float *logits,
                       const char *what, zoo_error *err) {
  const int64_t last = n - 1;
  zoo_forward_args f;
  memset(&f, 0, sizeof f);
  f.size = sizeof f;
  f.tokens = tokens;
  f.n_tokens = n;
  f.positions = NULL;
  f.mask_kind = ZOO_MASK_CAUSAL;
  f.logit_rows = &last;
  f.n_logit_rows = 1;
  f.logits = logits;
  f.hidden = NULL;
  f.request = a->request;
  zoo_error inner;
  memset(&inner, 0, sizeof inner);
  inner.size = sizeof inner;
  int32_t rc = a->model_api->forward(a->model, st, &f, &inner);
  if (rc != ZOO_OK) {
    return cb_fail(err, rc, "greedy_c: %s failed: %s", what, inner.message[0] ? inner.message : "(no message)");
  }
  return ZOO_OK;
}

/* a ranks before b: larger logit, then lower id (the same order as the Swift
 * sampler, so ties break the same way everywhere). */
static int cb_before(float la, int32_t a, float lb, int32_t b) { return la > lb || (la == lb && a < b); }

static int32_t greedy_run(const zoo_decode_args *a, int32_t *finish_reason, zoo_error *err) {
  /* Validate what we were handed before allocating anything. */
  if (!ZOO_HAS_FIELD(a, emit_context)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: decode arguments are missing or too short (size %u)",
                   a ? (unsigned)a->size : 0u);
  }
  if (a->decoder != NULL && strcmp(a->decoder, CB_DECODER) != 0) {
    return cb_fail(err, ZOO_ERR_NOT_FOUND, "greedy_c: asked to run decoder '%s'; this table serves only '%s'",
                   a->decoder, CB_DECODER);
  }
  const zoo_model_api *api = a->model_api;
  if (!ZOO_HAS_FIELD(api, forward) || api->describe == NULL || api->state_new == NULL || api->state_free == NULL ||
      api->forward == NULL || a->model == NULL) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                   "greedy_c: the model table is missing or lacks describe/state_new/state_free/forward");
  }
  if (a->prompt == NULL || a->n_prompt < 1) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: the prompt must hold at least one token (got %lld)",
                   (long long)a->n_prompt);
  }
  if (a->emit == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: no emit callback");
  if (a->n_eos_tokens < 0 || (a->n_eos_tokens > 0 && a->eos_tokens == NULL)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: malformed eos token list");
  }

  /* Options: serialized zoo.v1.GenerateOptions. Greedy decoding reads max_tokens
   * and logprobs only; temperature, top_k, top_p and seed are sampling options and
   * do not apply to argmax. (The C code for zoo.proto is generated with proto3
   * `optional` dropped, since protoc-c 1.4 rejects it; that is wire-compatible but
   * loses presence, so a C sampler could not tell "temperature unset" from 0.) */
  int64_t max_tokens = CB_DEFAULT_MAX_TOKENS;
  int32_t n_logprobs = 0;
  if (a->options_len > 0) {
    if (a->options == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: options_len > 0 but no options");
    Zoo__V1__GenerateOptions *o = zoo__v1__generate_options__unpack(NULL, a->options_len, a->options);
    if (o == NULL) {
      return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT,
                     "greedy_c: the options (%zu bytes) are not a valid serialized zoo.v1.GenerateOptions",
                     a->options_len);
    }
    int32_t mt = o->max_tokens, lp = o->logprobs;
    zoo__v1__generate_options__free_unpacked(o, NULL); /* we copied what we need */
    if (mt < 0) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: max_tokens is negative (%d)", (int)mt);
    if (lp < 0 || lp > CB_MAX_LOGPROBS) {
      return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "greedy_c: logprobs is %d; it must be in 0...%d", (int)lp,
                     CB_MAX_LOGPROBS);
    }
    if (mt > 0) max_tokens = mt;
    n_logprobs = lp;
  }

  zoo_model_info info;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  int32_t rc = api->describe(a->model, &info);
  if (rc != ZOO_OK) return cb_fail(err, rc, "greedy_c: the model's describe failed (status %d)", (int)rc);
  const int64_t V = info.vocab_size;
  if (V < 1 || (uint64_t)V > SIZE_MAX / sizeof(float) || V > (int64_t)INT32_MAX + 1) {
    return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION, "greedy_c: the model reports vocab_size %lld", (long long)V);
  }
  const int32_t n_top = (int64_t)n_logprobs < V ? n_logprobs : (int32_t)V;

  /* Owned scratch: freed at `done` on every path. */
  float *logits = malloc((size_t)V * sizeof(float));
  int32_t top_tokens[CB_MAX_LOGPROBS];
  float top_logits[CB_MAX_LOGPROBS], top_logprobs[CB_MAX_LOGPROBS];
  zoo_state *st = NULL;
  int32_t finish = ZOO_FINISH_LENGTH;
  if (logits == NULL) {
    return cb_fail(err, ZOO_ERR_RESOURCE_EXHAUSTED, "greedy_c: out of memory for %lld logits", (long long)V);
  }

  if (cb_cancelled(a)) goto cancelled;
  {
    zoo_error inner;
    memset(&inner, 0, sizeof inner);
    inner.size = sizeof inner;
    rc = api->state_new(a->model, &st, &inner);
    if (rc != ZOO_OK) {
      st = NULL;
      rc = cb_fail(err, rc, "greedy_c: state_new failed: %s", inner.message);
      goto done;
    }
  }

  /* Prefill: the whole prompt in one call, logits for its last row only. */
  rc = cb_step(a, st, a->prompt, a->n_prompt, logits, "the prompt's forward", err);
  if (rc != ZOO_OK) goto done;

  for (int64_t step = 0;; step++) {
    /* Argmax and the log-sum-exp in one pass (double for accuracy). A NaN or +inf
     * logit, or no finite logit at all, is a model bug, reported as INTERNAL. */
    int32_t best = -1;
    float best_logit = -INFINITY;
    for (int64_t i = 0; i < V; i++) {
      float v = logits[i];
      if (isnan(v) || v == INFINITY) {
        rc = cb_fail(err, ZOO_ERR_INTERNAL, "greedy_c: the model returned a %s logit for token %lld at step %lld",
                     isnan(v) ? "NaN" : "+inf", (long long)i, (long long)step);
        goto done;
      }
      if (v > best_logit) {
        best_logit = v;
        best = (int32_t)i;
      }
    }
    if (best < 0) {
      rc = cb_fail(err, ZOO_ERR_INTERNAL, "greedy_c: every logit is -inf at step %lld", (long long)step);
      goto done;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < V; i++) sum += exp((double)logits[i] - (double)best_logit);
    const double lse = (double)best_logit + log(sum);

    /* The top n alternatives, most likely first, by insertion into a sorted array
     * of at most 20 entries: O(V * n), fine for n <= 20. */
    int32_t have = 0;
    for (int64_t i = 0; i < V && n_top > 0; i++) {
      float v = logits[i];
      int32_t id = (int32_t)i;
      if (have == n_top && !cb_before(v, id, top_logits[have - 1], top_tokens[have - 1])) continue;
      int32_t j = have < n_top ? have++ : n_top - 1;
      while (j > 0 && cb_before(v, id, top_logits[j - 1], top_tokens[j - 1])) {
        top_logits[j] = top_logits[j - 1];
        top_tokens[j] = top_tokens[j - 1];
        j--;
      }
      top_logits[j] = v;
      top_tokens[j] = id;
    }
    for (int32_t k = 0; k < have; k++) top_logprobs[k] = (float)((double)top_logits[k] - lse);

    /* An end-of-sequence token ends generation and is not emitted (like a stop
     * string, it is not part of the output). */
    for (int32_t k = 0; k < a->n_eos_tokens; k++) {
      if (a->eos_tokens[k] == best) {
        finish = ZOO_FINISH_EOS;
        rc = ZOO_OK;
        goto done;
      }
    }

    zoo_token_event ev;
    memset(&ev, 0, sizeof ev);
    ev.size = sizeof ev;
    ev.token = best;
    ev.logprob = (float)((double)best_logit - lse); /* always computed: it is cheap */
    ev.n_top = have;
    ev.top_tokens = have ? top_tokens : NULL; /* borrowed by emit for the call only */
    ev.top_logprobs = have ? top_logprobs : NULL;
    /* ABI 1.2: left to right, each token is appended and final at once (an older
     * header has no such fields, and zood treats its events the same way). */
#if ZOO_ABI_MINOR >= 2
    ev.op = ZOO_TOKEN_APPEND;
    ev.committed = step + 1;
#endif
    if (a->emit(a->emit_context, &ev) != 0) {
      finish = ZOO_FINISH_STOP;
      rc = ZOO_OK;
      goto done;
    }
    if (step + 1 >= max_tokens) {
      finish = ZOO_FINISH_LENGTH;
      rc = ZOO_OK;
      goto done;
    }
    if (cb_cancelled(a)) goto cancelled;
    rc = cb_step(a, st, &best, 1, logits, "a decode step's forward", err);
    if (rc != ZOO_OK) goto done;
  }

cancelled:
  finish = ZOO_FINISH_CANCELLED;
  rc = cb_fail(err, ZOO_ERR_CANCELLED, "greedy_c: the request was cancelled");
done:
  if (st != NULL) api->state_free(a->model, st);
  free(logits);
  if (finish_reason != NULL && (rc == ZOO_OK || rc == ZOO_ERR_CANCELLED)) *finish_reason = finish;
  return rc;
}

static const zoo_decoder_api g_greedy_api = {
    .size = sizeof(zoo_decoder_api),
    .run = greedy_run,
};

/* ---------------------------------------------------------------------------------
 * The manifest and the plugin table
 * ------------------------------------------------------------------------------ */

static const zoo_model_api *cb_model_api(const char *model_type) {
  return model_type != NULL && strcmp(model_type, CB_MODEL_TYPE) == 0 ? &g_bigram_api : NULL;
}

static const zoo_decoder_api *cb_decoder_api(const char *decoder) {
  return decoder != NULL && strcmp(decoder, CB_DECODER) == 0 ? &g_greedy_api : NULL;
}

/* The serialized manifest. Static because zood keeps the pointer for the life of
 * the process; packed once, in init. 4 KiB is ample (the manifest is ~1 KiB); init
 * fails loudly if that ever stops being true. */
static uint8_t g_manifest[4096];
static size_t g_manifest_len;

static zoo_plugin g_plugin; /* filled in init, then only read */

/* Builds the manifest with the protobuf-c message structs (all on the stack: they
 * only point at string literals and at each other) and packs it into g_manifest.
 * Returns the packed length, or 0 when it does not fit. */
static size_t cb_pack_manifest(void) {
  Zoo__V1__Capabilities caps = ZOO__V1__CAPABILITIES__INIT;
  caps.causality = ZOO__V1__CAUSALITY__CAUSALITY_CAUSAL;
  caps.recurrent_step = 1;      /* one token costs one row copy, independent of length */
  caps.state_growth = ZOO__V1__STATE_GROWTH__STATE_GROWTH_FIXED; /* 8 bytes, see struct zoo_state */
  caps.decode_cost = (char *)"O(1)";
  caps.state_copy = 1;
  caps.state_truncate = 1;

  Zoo__V1__ConfigField vocab = ZOO__V1__CONFIG_FIELD__INIT;
  vocab.name = (char *)"vocab_size";
  vocab.type = ZOO__V1__FIELD_TYPE__FIELD_TYPE_INT;
  vocab.default_json = (char *)""; /* required: no default */
  vocab.required = 1;
  vocab.description = (char *)"Number of tokens V; the weight bigram.logits is a V x V table.";
  Zoo__V1__ConfigField *model_config[] = {&vocab};

  char *weights[] = {(char *)CB_WEIGHT};

  Zoo__V1__ModelType bigram = ZOO__V1__MODEL_TYPE__INIT;
  bigram.model_type = (char *)CB_MODEL_TYPE;
  bigram.description = (char *)"A bigram language model: the next-token logits are the table row of the current "
                               "token, logits = bigram.logits[token] (F32 [vocab_size, vocab_size]).";
  bigram.capabilities = &caps;
  bigram.n_config = 1;
  bigram.config = model_config;
  bigram.n_weights = 1;
  bigram.weights = weights;
  Zoo__V1__ModelType *model_types[] = {&bigram};

  Zoo__V1__DecoderKind greedy = ZOO__V1__DECODER_KIND__INIT;
  greedy.name = (char *)CB_DECODER;
  greedy.description = (char *)"Greedy (argmax) decoding written in C; drives any causal model and reports the "
                               "chosen token's logprob and the top alternatives. Ignores temperature, top_k, "
                               "top_p and seed.";
  greedy.requires = ZOO__V1__CAUSALITY__CAUSALITY_CAUSAL;
  Zoo__V1__DecoderKind *decoders[] = {&greedy};

  Zoo__V1__PluginManifest m = ZOO__V1__PLUGIN_MANIFEST__INIT;
  m.name = (char *)CB_PLUGIN_NAME;
  m.version = (char *)"0.1.0";
  m.abi_major = ZOO_ABI_MAJOR; /* must equal the numbers in the zoo_plugin table */
  m.abi_minor = ZOO_ABI_MINOR;
  m.description = (char *)"An example plugin in plain C with protobuf-c: a bigram model and a greedy decoder, "
                          "proving zood's plugin ABI is language-neutral.";
  m.n_model_types = 1;
  m.model_types = model_types;
  m.n_decoders = 1;
  m.decoders = decoders;
  m.source = (char *)"Bigram (digram) language model: C. E. Shannon, A Mathematical Theory of Communication "
                     "(1948), section 3; code: Plugins/Examples/CBigram/bigram.c in the zoo repository.";

  size_t need = zoo__v1__plugin_manifest__get_packed_size(&m);
  if (need > sizeof g_manifest) return 0;
  return zoo__v1__plugin_manifest__pack(&m, g_manifest);
}

CB_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

/* The entry point (zoo_plugin_init_fn). zood calls it once, on the loading thread,
 * before anything else; `host` stays valid for the life of the process. */
CB_EXPORT int32_t zoo_plugin_init(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err) {
  if (out == NULL) return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: init called without an output pointer");
  *out = NULL;
  if (!ZOO_HAS_FIELD(host, abi_minor)) {
    return cb_fail(err, ZOO_ERR_INVALID_ARGUMENT, "cbigram: init called without a valid host table");
  }
  if (host->abi_major != ZOO_ABI_MAJOR) {
    return cb_fail(err, ZOO_ERR_FAILED_PRECONDITION, "cbigram: built for plugin ABI %d.%d but the host speaks %u.%u",
                   ZOO_ABI_MAJOR, ZOO_ABI_MINOR, (unsigned)host->abi_major, (unsigned)host->abi_minor);
  }
  g_host = host;

  /* Idempotent: a second call (zood never makes one) repacks identical bytes. */
  g_manifest_len = cb_pack_manifest();
  if (g_manifest_len == 0) {
    return cb_fail(err, ZOO_ERR_INTERNAL, "cbigram: the manifest does not fit its %zu-byte buffer (bigram.c)",
                   sizeof g_manifest);
  }
  g_plugin.size = sizeof g_plugin;
  g_plugin.abi_major = ZOO_ABI_MAJOR;
  g_plugin.abi_minor = ZOO_ABI_MINOR;
  g_plugin.manifest = g_manifest;
  g_plugin.manifest_len = g_manifest_len;
  g_plugin.model_api = cb_model_api;
  g_plugin.decoder_api = cb_decoder_api;
  *out = &g_plugin;
  cb_log(ZOO_LOG_DEBUG, "cbigram: initialised (manifest %zu bytes)", g_manifest_len);
  return ZOO_OK;
}
