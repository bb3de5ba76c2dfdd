/*
 * zoo_plugin.h: the C ABI between zood and its plugins.
 *
 * This header is the whole contract. A plugin is a shared library that exports one
 * symbol, `zoo_plugin_init`. zood opens it with dlopen(RTLD_NOW | RTLD_LOCAL |
 * RTLD_NODELETE), calls the entry once, and never unloads it.
 *
 * Versioning
 *   ZOO_ABI_MAJOR changes break the ABI; zood refuses a plugin whose major differs.
 *   ZOO_ABI_MINOR changes only add: new fields at the END of structs, new optional
 *   function slots. zood accepts a plugin whose minor is <= its own. Every struct
 *   that crosses the boundary starts with `uint32_t size` (sizeof as its writer was
 *   compiled); a reader must not touch fields at or beyond `size`. Use
 *   ZOO_HAS_FIELD(ptr, field) for that check. For structs the caller allocates and
 *   the callee fills (zoo_model_info), the caller sets `size` and the callee writes
 *   only the fields that fit. The first fields of zoo_plugin and zoo_host_api
 *   (size, abi_major, abi_minor) never move in any major version, so a table of the
 *   wrong major can be read safely enough to refuse it. zoo_tensor_view is passed in
 *   arrays, so its layout is frozen for the whole of major 1.
 *
 * Ownership (the rule unless a comment says otherwise)
 *   - Pointers passed INTO a call are borrowed for the duration of that call only.
 *   - Pointers a plugin returns in tables (zoo_plugin, zoo_model_api,
 *     zoo_decoder_api, manifest bytes) are owned by the plugin and must stay valid
 *     for the life of the process (plugins are never unloaded): use static storage.
 *   - Opaque handles (zoo_model, zoo_state) are created and destroyed by the plugin
 *     that made them; zood calls the matching destroy function exactly once.
 *   - Errors are written into a caller-owned zoo_error; the callee copies its
 *     message in (truncated to fit) and never keeps the pointer.
 *
 * Threading
 *   zood may call different models, and different states of one model, from
 *   different threads at once. One zoo_state is never used by two calls at once.
 *   A zoo_model's weights are read-only after load; forward must be reentrant
 *   across distinct states. Host services may be called from any thread.
 */
#ifndef ZOO_PLUGIN_H
#define ZOO_PLUGIN_H

/* ZOO_HAS_FIELD uses __typeof__ (GCC and Clang; C23 typeof). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_ABI_MAJOR 1
#define ZOO_ABI_MINOR 8

/* The exported entry symbol's name, for dlsym. */
#define ZOO_PLUGIN_ENTRY_SYMBOL "zoo_plugin_init"

/* True when the struct at `ptr`, as its writer built it, contains `field`. Swift cannot
 * call a macro: the zoo_*_has_* inline functions further down wrap it per field. */
#define ZOO_HAS_FIELD(ptr, field) \
  ((ptr) != NULL && (size_t)(ptr)->size >= offsetof(__typeof__(*(ptr)), field) + sizeof((ptr)->field))

/* ---------------------------------------------------------------------------------
 * Status codes. Every fallible call returns one; ZOO_OK is 0. They map one to one
 * onto gRPC status codes when zood reports them to a client.
 * ------------------------------------------------------------------------------ */
typedef enum zoo_status {
  ZOO_OK = 0,
  ZOO_ERR_CANCELLED = 1,            /* the request was cancelled (is_cancelled said so) */
  ZOO_ERR_INVALID_ARGUMENT = 3,     /* bad options, token ids out of range, bad shapes */
  ZOO_ERR_NOT_FOUND = 5,            /* unknown model type, decoder, or missing weight */
  ZOO_ERR_RESOURCE_EXHAUSTED = 8,   /* out of memory, context length exceeded */
  ZOO_ERR_FAILED_PRECONDITION = 9,  /* the model cannot do this (e.g. no truncate) */
  ZOO_ERR_OUT_OF_RANGE = 11,        /* position beyond what the model supports */
  ZOO_ERR_UNIMPLEMENTED = 12,       /* an optional operation the plugin lacks */
  ZOO_ERR_INTERNAL = 13,            /* a bug: the message says where */
} zoo_status;

/* A caller-owned error record. The callee sets `code` and writes a NUL-terminated,
 * human-readable sentence into `message` (what was wrong, and what to do). */
typedef struct zoo_error {
  uint32_t size;
  int32_t code;        /* a zoo_status */
  char message[1024];
} zoo_error;

/* Writes an error into `err` (if non-NULL) and returns `code`; for C plugins. */
static inline int32_t zoo_error_set(zoo_error *err, int32_t code, const char *message) {
  if (err != NULL) {
    err->code = code;
    size_t n = message ? strlen(message) : 0;
    if (n >= sizeof(err->message)) n = sizeof(err->message) - 1;
    if (n) memcpy(err->message, message, n);
    err->message[n] = '\0';
  }
  return code;
}

/* ---------------------------------------------------------------------------------
 * Tensor views. A view never owns its memory.
 * ------------------------------------------------------------------------------ */
typedef enum zoo_dtype {
  ZOO_DTYPE_F32 = 0,
  ZOO_DTYPE_F16 = 1,
  ZOO_DTYPE_BF16 = 2,
  ZOO_DTYPE_I64 = 3,
  ZOO_DTYPE_I32 = 4,
  ZOO_DTYPE_F64 = 5,
  ZOO_DTYPE_I16 = 6,
  ZOO_DTYPE_I8 = 7,
  ZOO_DTYPE_U8 = 8,
  ZOO_DTYPE_BOOL = 9,
} zoo_dtype;

#define ZOO_MAX_RANK 8

typedef struct zoo_tensor_view {
  uint32_t size;
  int32_t dtype;                 /* a zoo_dtype */
  int32_t rank;                  /* 0 (a scalar) .. ZOO_MAX_RANK */
  int64_t shape[ZOO_MAX_RANK];
  int64_t strides[ZOO_MAX_RANK]; /* in elements; row-major contiguous for weights */
  const void *data;              /* read-only */
} zoo_tensor_view;

/* ---------------------------------------------------------------------------------
 * Host services: the table zood gives every plugin at init. Owned by zood, valid
 * for the life of the process. All slots are non-NULL.
 * ------------------------------------------------------------------------------ */
typedef struct zoo_request zoo_request; /* opaque: one client request, owned by zood */

typedef enum zoo_log_level {
  ZOO_LOG_TRACE = 0, ZOO_LOG_DEBUG = 1, ZOO_LOG_INFO = 2, ZOO_LOG_WARNING = 3, ZOO_LOG_ERROR = 4,
} zoo_log_level;

typedef struct zoo_host_api {
  uint32_t size;
  uint16_t abi_major;            /* the host's ZOO_ABI_MAJOR / MINOR */
  uint16_t abi_minor;
  void *host_context;            /* pass back as the first argument of every call below */
  /* Writes `message` into zood's log, tagged with the plugin's name. */
  void (*log)(void *host_context, int32_t level, const char *message);
  /* Non-zero once the client cancelled, disconnected or hit its deadline. Decoders
   * poll this between steps and then return ZOO_ERR_CANCELLED promptly. */
  int32_t (*is_cancelled)(void *host_context, const zoo_request *request);
  /* Reports progress of a long step (0..1) with a short label. Called with request
   * NULL from a model's `load` (on the loading thread), it reaches the clients waiting
   * on that load (LoadModelWithProgress, `zoo load`); otherwise zood logs it at debug. */
  void (*progress)(void *host_context, const zoo_request *request, double fraction, const char *what);

  /* Since 1.2: text and embedding services, for middleware and decoders. The three
   * calls below follow one rule for output: they write at most `capacity` elements and
   * always set the count the whole result needs; when it does not fit they write
   * nothing and return ZOO_ERR_RESOURCE_EXHAUSTED, so the caller can retry with room. */

  /* Token ids of `text` (text_len bytes of UTF-8) under the tokenizer of the model the
   * request runs on. ZOO_ERR_FAILED_PRECONDITION when that model has no tokenizer. */
  int32_t (*tokenize)(void *host_context, const zoo_request *request, const char *text, size_t text_len,
                      int32_t *tokens, int64_t capacity, int64_t *n_tokens, zoo_error *err);
  /* The text of `tokens` under the same tokenizer (bytes; not NUL-terminated). */
  int32_t (*detokenize)(void *host_context, const zoo_request *request, const int32_t *tokens, int64_t n_tokens,
                        char *text, int64_t capacity, int64_t *text_len, zoo_error *err);
  /* The sentence embedding of `text` under the model named `model` (any model zood
   * serves that can embed; loaded if needed). Blocks until done or cancelled. */
  int32_t (*embed)(void *host_context, const zoo_request *request, const char *model, const char *text,
                   size_t text_len, float *vector, int64_t capacity, int64_t *dimensions, zoo_error *err);

  /* Since 1.5: token ids of `text` under the tokenizer of the model named `model`
   * (loaded if needed), for work that has no model of its own, such as a
   * middleware's RPCs (zoo_middleware_api.call) counting tokens. Output rule above. */
  int32_t (*tokenize_with)(void *host_context, const zoo_request *request, const char *model, const char *text,
                           size_t text_len, int32_t *tokens, int64_t capacity, int64_t *n_tokens, zoo_error *err);
} zoo_host_api;

/* ---------------------------------------------------------------------------------
 * Models. A plugin provides one zoo_model_api per model type it declares.
 * ------------------------------------------------------------------------------ */
typedef struct zoo_model zoo_model; /* opaque, owned by the plugin */
typedef struct zoo_state zoo_state; /* opaque per-sequence state, owned by the plugin */

/* How query positions may attend to each other inside one forward call. */
typedef enum zoo_mask_kind {
  ZOO_MASK_CAUSAL = 0,        /* position i sees cached positions and positions <= i */
  ZOO_MASK_BIDIRECTIONAL = 1, /* every position sees every position */
  ZOO_MASK_BLOCK_CAUSAL = 2,  /* causal across blocks of `block_size`, bidirectional inside */
} zoo_mask_kind;

/* Weights: every tensor of the model folder's safetensors files, by name. The array,
 * the names and the data are owned by zood (the data is zood's read-only copy of the
 * files, page-aligned like a mapping, unaffected by later changes to the files) and
 * stay valid until the model's `unload` returns: a plugin may keep pointers into them
 * instead of copying. */
typedef struct zoo_weights {
  uint32_t size;
  int64_t count;
  const char *const *names;          /* count NUL-terminated names */
  const zoo_tensor_view *tensors;    /* count views, same order */
} zoo_weights;

typedef struct zoo_model_load_args {
  uint32_t size;
  const char *model_type;     /* config.json "model_type" */
  const char *config_json;    /* the whole config.json text, NUL-terminated */
  const char *folder;         /* absolute path of the model folder, for extra files */
  const zoo_weights *weights;
  const zoo_host_api *host;
  /* Since 1.7. How the model keeps its weight matrices, from zoo.json "weights": "" as
   * the checkpoint stores them (F32, F16, BF16), "q8" quantised at load to int8 blocks
   * of 32 with a float scale each. A plugin that cannot honour it keeps its own. */
  const char *weights_format;
} zoo_model_load_args;

/* Since 1.2: an output head. Passed in arrays, so its layout is frozen for major 1. */
typedef struct zoo_head_info {
  uint32_t size;
  const char *name;           /* e.g. "stop" */
  int64_t width;              /* floats per row */
} zoo_head_info;

/* What a loaded model reports about itself. Filled by `describe`. */
typedef struct zoo_model_info {
  uint32_t size;
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t max_positions;      /* 0 = unbounded (e.g. state-space models) */
  int32_t mask_kinds;         /* bit (1 << zoo_mask_kind) for each supported kind */
  int32_t state_is_fixed;     /* 1: state size independent of length (recurrent) */
  int64_t state_bytes;        /* fixed state bytes, or bytes per token when growing */
  int64_t weight_bytes;       /* bytes of weights the model reads */
  /* Since 1.1. Length of the vectors `embed` returns; 0 = the model cannot embed. */
  int64_t embedding_size;
  /* Since 1.2. Special token ids, -1 when the model has none (the caller writes -1
   * before calling describe, so an older plugin reads as "none"). */
  int32_t mask_token_id;      /* masked-diffusion [MASK] */
  int32_t bos_token_id;
  int32_t cls_token_id;
  int32_t pad_token_id;
  int32_t n_eos_tokens;
  const int32_t *eos_token_ids;   /* owned by the model, valid until unload */
  /* Named outputs besides the logits (e.g. an insertion LM's "stop" head), which
   * forward writes on request (zoo_forward_args.head). */
  int32_t n_heads;
  const struct zoo_head_info *heads; /* owned by the model, valid until unload */
  /* Since 1.3. 1 when forward honours zoo_forward_args.key_positions. */
  int32_t accepts_key_positions;
  /* Since 1.6. 1 when forward_batch serves this model (zoo_model_api.forward_batch). */
  int32_t batches_steps;
  /* Since 1.8. Bytes of memory the model built for itself at load besides the weights
   * zood handed it (float32 copies of 16-bit tensors, quantised or fused matrices,
   * copies in huge pages); zood adds them to its own copy of the weights to show what
   * the model holds. 0 when it built nothing or does not say. */
  int64_t held_bytes;
} zoo_model_info;

/* One forward call over `n_tokens` tokens of one sequence.
 *
 * Models with a key/value cache keep one cache slot per position. A forward call
 * writes each token's keys and values at its position, overwriting a slot that is
 * already there, and the state's length becomes max(length, largest position + 1).
 * Positions must leave no hole: with the slots already there they fill 0 .. new
 * length - 1, in any order within the call (since 1.4, so an insertion LM can store
 * tokens out of logical order; before, each was <= the length so far). The call's
 * tokens are its queries: each attends to the cached slots and the call's own tokens
 * as the mask allows, by position:
 *   causal:        key position <= query position;
 *   bidirectional: every position < the new length;
 *   block-causal:  key position / block_size <= query position / block_size.
 * So a subset of positions can be re-run against the cache, and cached keys and
 * values replaced, by passing just those positions. Recurrent models accept only
 * positions that continue the sequence. */
typedef struct zoo_forward_args {
  uint32_t size;
  const int32_t *tokens;      /* n_tokens ids */
  int64_t n_tokens;
  /* Positions of the tokens, or NULL for state_length .. state_length+n_tokens-1.
   * Models without positional input may refuse non-contiguous positions. */
  const int64_t *positions;
  int32_t mask_kind;          /* a zoo_mask_kind */
  int64_t block_size;         /* for ZOO_MASK_BLOCK_CAUSAL */
  /* Which of the n_tokens rows to return logits for (indices into tokens), or NULL
   * for all rows. Output row r corresponds to logit_rows[r]. */
  const int64_t *logit_rows;
  int64_t n_logit_rows;       /* rows requested (n_tokens when logit_rows is NULL) */
  float *logits;              /* caller-owned, n_logit_rows * vocab_size floats, or NULL */
  float *hidden;              /* caller-owned, n_tokens * hidden_size final hidden states
                                 (after the final norm), or NULL */
  const zoo_request *request; /* for is_cancelled during long prefills; may be NULL */
  /* Since 1.2. When head_output is non-NULL, also writes head `head` (an index into
   * zoo_model_info.heads) for the same rows as the logits: n_logit_rows * width floats.
   * A model without that head returns ZOO_ERR_FAILED_PRECONDITION. */
  int32_t head;
  float *head_output;
  /* Since 1.3. When non-NULL, every token of the call attends to exactly these
   * positions' slots (ascending, each < the state's new length) instead of what the
   * mask allows: a query sees its own slot only if its position is listed. The call's
   * keys and values are still written at its positions. Only with
   * ZOO_MASK_BIDIRECTIONAL, and only for models whose info sets accepts_key_positions
   * (others return ZOO_ERR_FAILED_PRECONDITION). Decoders that re-run part of a
   * sequence against a pruned context use it (Window-Diffusion). */
  const int64_t *key_positions;
  int64_t n_key_positions;
} zoo_forward_args;

/* Since 1.1: a batch of sequences to embed (see zoo_model_api.embed). */
typedef struct zoo_embed_args {
  uint32_t size;
  const int32_t *tokens;      /* all sequences' ids, concatenated */
  const int64_t *lengths;     /* n_sequences lengths, each >= 1, summing to n_tokens */
  int64_t n_sequences;
  int64_t n_tokens;
  float *embeddings;          /* caller-owned, n_sequences * embedding_size floats */
  const zoo_request *request; /* for is_cancelled during long batches; may be NULL */
} zoo_embed_args;

/* Since 1.6: one decode step of several sequences at once (see forward_batch). */
typedef struct zoo_batch_step_args {
  uint32_t size;
  int64_t n_sequences;
  zoo_state *const *states;   /* n_sequences distinct states of this model */
  const int32_t *tokens;      /* one token per sequence, continuing it at state_length */
  float *logits;              /* caller-owned, n_sequences * vocab_size floats; row i is
                                 the next-token logits of sequence i */
} zoo_batch_step_args;

typedef struct zoo_model_api {
  uint32_t size;
  /* Builds a model from its folder. On success sets *out (released with unload). */
  int32_t (*load)(const zoo_model_load_args *args, zoo_model **out, zoo_error *err);
  void (*unload)(zoo_model *model);
  int32_t (*describe)(const zoo_model *model, zoo_model_info *info);
  /* A fresh, empty per-sequence state (released with state_free). */
  int32_t (*state_new)(const zoo_model *model, zoo_state **out, zoo_error *err);
  void (*state_free)(const zoo_model *model, zoo_state *state);
  /* Number of tokens the state has consumed. */
  int64_t (*state_length)(const zoo_model *model, const zoo_state *state);
  /* Optional (may be NULL): a deep copy of `src` as a new state. */
  int32_t (*state_copy)(const zoo_model *model, const zoo_state *src, zoo_state **out, zoo_error *err);
  /* Optional (may be NULL, or return ZOO_ERR_FAILED_PRECONDITION when the state is
   * recurrent and cannot forget): drop everything after the first `length` tokens. */
  int32_t (*state_truncate)(const zoo_model *model, zoo_state *state, int64_t length, zoo_error *err);
  /* Runs the tokens through the model, appending them to `state`. Refusals of the
   * request (bad ids, positions, mask, rows: ZOO_ERR_INVALID_ARGUMENT,
   * ZOO_ERR_OUT_OF_RANGE or ZOO_ERR_FAILED_PRECONDITION) leave the state unchanged. After any other failure,
   * cancellation included, the state must only be freed. */
  int32_t (*forward)(const zoo_model *model, zoo_state *state, const zoo_forward_args *args, zoo_error *err);
  /* Since 1.1; optional (may be NULL, or absent when size says so). Sentence
   * embeddings for a batch of independent sequences, packed one after another:
   * sequence i is `lengths[i]` tokens of `tokens`. Each sequence is encoded on its
   * own (no state, nothing shared) and pooled as the model folder says (e.g.
   * sentence-transformers' modules.json). Writes n_sequences * embedding_size
   * floats to the caller-owned `embeddings`. Models that describe embedding_size 0
   * return ZOO_ERR_FAILED_PRECONDITION. */
  int32_t (*embed)(const zoo_model *model, const zoo_embed_args *args, zoo_error *err);
  /* Since 1.6; optional (may be NULL, or absent when size says so), and used only for
   * models whose info sets batches_steps. Advances every state of the batch by its one
   * token in one pass, so each weight matrix is read once for all of them (a decode
   * step of concurrent requests, as llama.cpp's server and vLLM batch them). Each row's
   * result is what forward would give for that state alone with one token, the causal
   * mask, positions NULL and logits for the row, up to the rounding of the matrix
   * kernels. Refusals (a state of another model, a token outside the vocabulary, a
   * state at the model's last position: ZOO_ERR_INVALID_ARGUMENT, ZOO_ERR_OUT_OF_RANGE
   * or ZOO_ERR_FAILED_PRECONDITION) leave every state unchanged, so the caller can run
   * the sequences one by one to find which was refused. After any other failure every
   * state of the batch may only be freed. Never polls for cancellation: a step is short. */
  int32_t (*forward_batch)(const zoo_model *model, const zoo_batch_step_args *args, zoo_error *err);
} zoo_model_api;

/* ---------------------------------------------------------------------------------
 * Decoders. A decoder drives a model (possibly from another plugin) through its
 * zoo_model_api and reports tokens through `emit`.
 * ------------------------------------------------------------------------------ */
/* Numbered as zoo.v1.FinishReason. */
typedef enum zoo_finish_reason {
  ZOO_FINISH_UNSPECIFIED = 0, /* not written: a decoder that returns ZOO_OK must set one */
  ZOO_FINISH_LENGTH = 1,      /* max_tokens (or the model's max_positions) reached */
  ZOO_FINISH_STOP = 2,        /* emit asked to stop (the host matched a stop string) */
  ZOO_FINISH_EOS = 3,         /* the model produced an end-of-sequence token (not emitted) */
  ZOO_FINISH_CANCELLED = 4,   /* is_cancelled became true */
} zoo_finish_reason;

/* Since 1.2: where an event's token goes in the generated sequence (the tokens after
 * the prompt, numbered from 0). */
typedef enum zoo_token_op {
  ZOO_TOKEN_APPEND = 0,  /* after the last generated token (left to right) */
  ZOO_TOKEN_SET = 1,     /* position `position` now holds the token (masked diffusion);
                            positions past the end leave unset holes before them */
  ZOO_TOKEN_INSERT = 2,  /* the token becomes position `position`, i.e. goes right after
                            position-1 (0 = first); later tokens move up by one (insertion LMs) */
} zoo_token_op;

/* One decoding event: a token placed in the generated sequence, and how much of the
 * sequence is final. Borrowed for the duration of the emit call.
 *
 * zood keeps the generated sequence, and only its committed prefix is text: it streams
 * committed text, matches stop strings and holds text back on it, and ends the request
 * at a committed end-of-sequence token (the EOS and what follows are not text). A
 * decoder never changes a committed position. When the decoder returns ZOO_OK the
 * whole sequence is committed; it must then have no unset position.
 * Events of plugins built before 1.2 end at `top_logprobs`: each appends its token and
 * commits everything. */
typedef struct zoo_token_event {
  uint32_t size;
  int32_t token;
  float logprob;              /* log-softmax of the chosen token under the raw logits
                                 (before temperature and filters); 0 when the request
                                 asked for no logprobs and the decoder skipped it */
  int32_t n_top;              /* number of alternatives below (<= options' logprobs) */
  const int32_t *top_tokens;  /* most likely first */
  const float *top_logprobs;
  /* Since 1.2. */
  int32_t op;                 /* a zoo_token_op */
  int64_t position;           /* for SET and INSERT (ignored by APPEND) */
  int64_t committed;          /* positions [0, committed) are final; commits never shrink,
                                 so a smaller value (0 included) changes nothing */
} zoo_token_event;

typedef struct zoo_decode_args {
  uint32_t size;
  const char *decoder;            /* the decoder name requested (one table may serve several) */
  const zoo_model_api *model_api; /* the model's table and handle, borrowed */
  const zoo_model *model;
  const int32_t *prompt;          /* n_prompt ids, at least one (may be none with gaps) */
  int64_t n_prompt;
  /* Serialized zoo.v1.GenerateOptions (proto/zoo/v1/zoo.proto). zood has checked
   * ranges and written every field explicitly (max_tokens > 0, temperature, top_k,
   * top_p, seed, and every decoder_options key the decoder declares, defaults
   * included, each checked against its ConfigField), so a decoder needs no defaults
   * of its own. */
  const uint8_t *options;
  size_t options_len;
  const int32_t *eos_tokens;      /* ids that end the sequence */
  int32_t n_eos_tokens;
  const zoo_request *request;
  const zoo_host_api *host;
  /* Reports one event (see zoo_token_event). Returns 0 to continue, non-zero to stop
   * (the decoder then returns ZOO_OK with ZOO_FINISH_STOP): zood has what it needs,
   * e.g. a stop string, an EOS or max_tokens in the committed text, or a cancel. The
   * model table above is zood's: zood counts its forward calls per request. */
  int32_t (*emit)(void *emit_context, const zoo_token_event *event);
  void *emit_context;
  /* Since 1.4, only for decoders whose manifest sets fills_gaps (zoo.v1.DecoderKind):
   * a template to fill (zoo.v1.GenerateRequest.segments). n_prompt + 1 flags; gaps[k] != 0
   * allows insertions right before prompt token k (k = n_prompt: after the last one).
   * The prompt may then be empty. Event positions count the prompt's tokens too: zood
   * starts the sequence with them (uncommitted), so the final text is the whole filled
   * template. NULL: a plain prompt, continued after its last token. */
  const uint8_t *gaps;
} zoo_decode_args;

typedef struct zoo_decoder_api {
  uint32_t size;
  /* Generates until max_tokens, EOS, a stop from emit, or cancellation; sets
   * *finish_reason. An end-of-sequence token may be emitted (zood ends the text there)
   * or not (the decoder returns ZOO_FINISH_EOS). Returns ZOO_ERR_CANCELLED (and finish
   * CANCELLED) when cancelled; on other errors *finish_reason is not meaningful. zood
   * decides the reason the client sees, from this one and what it saw in emit. */
  int32_t (*run)(const zoo_decode_args *args, int32_t *finish_reason, zoo_error *err);
} zoo_decoder_api;

/* ---------------------------------------------------------------------------------
 * Since 1.2: request middleware. zood calls each middleware a request names
 * (zoo.v1.GenerateRequest.middleware, in order) after validating the request and
 * finding its model, before the prompt is tokenized and the decoder runs. A middleware
 * reads the request and may replace it; zood validates the replacement like a new
 * request. Middleware runs on its own thread and may block (e.g. on host->embed).
 * ------------------------------------------------------------------------------ */
typedef struct zoo_middleware_args {
  uint32_t size;
  const char *middleware;         /* the middleware name requested */
  const uint8_t *generate_request; /* serialized zoo.v1.GenerateRequest, options filled */
  size_t generate_request_len;
  const zoo_request *request;     /* for the host's services and is_cancelled */
  const zoo_host_api *host;
  /* Replaces the request with a serialized zoo.v1.GenerateRequest (copied; the model
   * must stay the same). Not calling it keeps the request as it is. */
  int32_t (*rewrite)(void *rewrite_context, const uint8_t *bytes, size_t len);
  void *rewrite_context;
} zoo_middleware_args;

/* Since 1.5: one RPC a middleware serves (zoo_middleware_api.call). */
typedef struct zoo_middleware_call_args {
  uint32_t size;
  const char *middleware;         /* the middleware name */
  const char *rpc;                /* the RPC's method name, e.g. "GateTools" */
  const uint8_t *request_bytes;   /* the serialized request message */
  size_t request_len;
  const zoo_request *request;     /* for the host's services and is_cancelled */
  const zoo_host_api *host;
  /* The serialized response message (copied). Call it once; the last call wins. */
  int32_t (*reply)(void *reply_context, const uint8_t *bytes, size_t len);
  void *reply_context;
} zoo_middleware_call_args;

typedef struct zoo_middleware_api {
  uint32_t size;
  /* Called once per Generate request that names this middleware. An error refuses the
   * request with the error's code and message. */
  int32_t (*on_generate)(const zoo_middleware_args *args, zoo_error *err);
  /* Since 1.5, may be NULL: serves one of the zoo.v1.Zoo RPCs its manifest lists
   * (MiddlewareKind.rpcs). zood checks the client's request and forwards it here as
   * serialized protobuf; the middleware answers through `reply` with the serialized
   * response message (e.g. GateToolsRequest -> GateToolsResponse), or fails with an
   * error whose code and message the client gets. Runs on its own thread; may block on
   * the host's services. Calls for several clients may run at once. */
  int32_t (*call)(const zoo_middleware_call_args *args, zoo_error *err);
} zoo_middleware_api;

/* ---------------------------------------------------------------------------------
 * The plugin table, returned by the entry point.
 * ------------------------------------------------------------------------------ */
typedef struct zoo_plugin {
  uint32_t size;
  uint16_t abi_major;         /* ZOO_ABI_MAJOR / MINOR the plugin was built against */
  uint16_t abi_minor;
  /* Serialized zoo.v1.PluginManifest (proto/zoo/v1/plugin.proto). */
  const uint8_t *manifest;
  size_t manifest_len;
  /* The model table for a model type the manifest declares, or NULL. */
  const zoo_model_api *(*model_api)(const char *model_type);
  /* The decoder table for a decoder the manifest declares, or NULL. */
  const zoo_decoder_api *(*decoder_api)(const char *decoder);
  /* Since 1.2: the middleware table for a middleware the manifest declares, or NULL. */
  const zoo_middleware_api *(*middleware_api)(const char *middleware);
} zoo_plugin;

/* The entry point. Called once, before anything else, on the loading thread.
 * `host` stays valid for the life of the process. On success sets *out to a table
 * with static storage and returns ZOO_OK; on failure fills `err`. */
typedef int32_t (*zoo_plugin_init_fn)(const zoo_host_api *host, const zoo_plugin **out, zoo_error *err);

/* ---------------------------------------------------------------------------------
 * Field checks as functions: ZOO_HAS_FIELD for each field added after 1.0, so Swift
 * (which cannot expand the macro) and C read older structs the same way.
 * ------------------------------------------------------------------------------ */
static inline int zoo_model_api_has_embed(const zoo_model_api *api) { return ZOO_HAS_FIELD(api, embed) && api->embed != NULL; }
static inline int zoo_model_info_has_embedding_size(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, embedding_size); }
static inline int zoo_model_info_has_special_tokens(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, eos_token_ids); }
static inline int zoo_model_info_has_heads(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, heads); }
static inline int zoo_forward_args_has_head(const zoo_forward_args *args) { return ZOO_HAS_FIELD(args, head_output); }
static inline int zoo_forward_args_has_key_positions(const zoo_forward_args *args) { return ZOO_HAS_FIELD(args, n_key_positions); }
static inline int zoo_model_info_has_key_positions(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, accepts_key_positions); }
static inline int zoo_model_info_has_batches_steps(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, batches_steps); }
static inline int zoo_model_info_has_held_bytes(const zoo_model_info *info) { return ZOO_HAS_FIELD(info, held_bytes); }
static inline int zoo_model_api_has_forward_batch(const zoo_model_api *api) {
  return ZOO_HAS_FIELD(api, forward_batch) && api->forward_batch != NULL;
}
static inline const char *zoo_model_load_args_weights_format(const zoo_model_load_args *args) {
  return ZOO_HAS_FIELD(args, weights_format) && args->weights_format ? args->weights_format : "";
}
static inline int zoo_decode_args_has_gaps(const zoo_decode_args *args) { return ZOO_HAS_FIELD(args, gaps); }
static inline int zoo_token_event_has_placement(const zoo_token_event *event) { return ZOO_HAS_FIELD(event, committed); }
static inline int zoo_host_api_has_text_services(const zoo_host_api *host) { return ZOO_HAS_FIELD(host, embed); }
static inline int zoo_host_api_has_tokenize_with(const zoo_host_api *host) { return ZOO_HAS_FIELD(host, tokenize_with); }
static inline int zoo_middleware_api_has_call(const zoo_middleware_api *api) { return ZOO_HAS_FIELD(api, call) && api->call != NULL; }
static inline int zoo_plugin_has_decoder_api(const zoo_plugin *plugin) { return ZOO_HAS_FIELD(plugin, decoder_api); }
static inline int zoo_plugin_has_middleware(const zoo_plugin *plugin) {
  return ZOO_HAS_FIELD(plugin, middleware_api) && plugin->middleware_api != NULL;
}

#ifdef __cplusplus
}
#endif
#endif /* ZOO_PLUGIN_H */
