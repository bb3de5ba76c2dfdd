/*
 * faulty_forward.c: the C example plugin (bigram.c) renamed "faulty", whose forward
 * misbehaves on purpose when it sees one of four token ids, so that a test can make
 * one request crash or hang a model while others run normally:
 *   token 61 ('=')  a write through a null pointer: a segfault in plugin code
 *   token 33 ('!')  abort()
 *   token 126 ('~') sleep forever: a hang in forward
 *   token 94  ('^') sleep 100 ms: a slow forward that stays cancellable between steps
 * Any other token behaves as cbigram. Used by Tests/EndToEnd/EndToEndTests/IsolationTests.swift
 * with zood --isolate, and by FaultTests.swift (the slow token); never installed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static void faulty_hook(const int32_t *tokens, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    switch (tokens[i]) {
    case 61: {
      int *volatile nowhere = NULL; /* volatile: the compiler cannot see it is null */
      *nowhere = 0;
      break;
    }
    case 33: abort();
    case 126:
      for (;;) pause();
    case 94: usleep(100000); break;
    default: break;
    }
  }
}

#define CB_PLUGIN_NAME "faulty"
#define CB_MODEL_TYPE "faulty"
#define CB_DECODER "greedy_faulty"
#define CB_FORWARD_HOOK(tokens, n) faulty_hook((tokens), (n))
#include "../../../Plugins/Examples/CBigram/bigram.c"
