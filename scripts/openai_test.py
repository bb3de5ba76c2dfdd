#!/usr/bin/env python3
"""End-to-end check of zood's OpenAI-compatible HTTP API with the real `openai` package
(PyPI): model listing, completions whole and streamed (with logprobs, stop strings and
usage), chat with a model's chat template (checked against jinja2's rendering), embeddings (base64, as the package asks by default, and floats), every error
status the package maps to an exception, the API key, and a client that disconnects
mid-stream. Each answer is compared with the same request over gRPC. Run by
scripts/test after the build; exits 1 on any failure.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from checks import Checks  # noqa: E402
from python_client_test import build_dir, generate_stubs  # noqa: E402

import httpx  # noqa: E402  (installed with openai)
import openai  # noqa: E402

MODEL = "mamba-shakespeare"
CHAT_MODEL = "mamba-chat"
FIXTURE_TEMPLATES = os.path.join(ROOT, "Tests", "Fixtures", "chat-templates", "renderings.json")
CHATML = next(t["template"] for t in json.load(open(FIXTURE_TEMPLATES))["templates"] if t["name"] == "chatml")
PLUGINS = ["libZooStateSpace.so", "libZooAutoregressive.so", "libZooTransformer.so"]

check = Checks("openai_test")


def raises(name, exc_type, call, status, contains=""):
    try:
        call()
    except exc_type as e:
        body = getattr(e, "body", None) or {}
        check(name, e.status_code == status and contains in str(e) and isinstance(body, dict) and "message" in body,
              f"got {e.status_code}: {e}")
        return
    except Exception as e:  # noqa: BLE001
        check(name, False, f"raised {type(e).__name__}: {e}")
        return
    check(name, False, "no error raised")


def scrape(text):
    """Prometheus text format: {(name, frozenset of label pairs): value}."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p) if labels else frozenset()
        series[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return series


def metric(series, name, **labels):
    return series.get((name, frozenset(labels.items())), 0.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Zood:
    def __init__(self, work, name, extra):
        self.socket = os.path.join(work, f"{name}.sock")
        self.log_path = os.path.join(work, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(build_dir(), "zood"), "--socket", self.socket, "--models", os.path.join(work, "models"),
             "--plugins", os.path.join(work, "plugins"), "--blas-threads", "1"] + extra,
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_for(self, path_or_port):
        deadline = time.time() + 60
        while time.time() < deadline:
            if isinstance(path_or_port, int):
                try:
                    socket.create_connection(("127.0.0.1", path_or_port), timeout=1).close()
                    return
                except OSError:
                    pass
            elif os.path.exists(path_or_port):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        print(open(self.log_path).read())
        raise SystemExit("zood did not start its HTTP listener")

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def unix_client(path, **kw):
    return openai.OpenAI(base_url="http://zood/v1", api_key="unused", max_retries=0,
                         http_client=httpx.Client(transport=httpx.HTTPTransport(uds=path)), **kw)


def main():
    work = tempfile.mkdtemp(prefix="zoo-openai-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    os.makedirs(os.path.join(work, "plugins"), mode=0o700)
    os.makedirs(os.path.join(work, "models"))
    for lib in PLUGINS:
        shutil.copy(os.path.join(build_dir(), lib), os.path.join(work, "plugins"))
    os.symlink(os.path.join(ROOT, "models", MODEL), os.path.join(work, "models", MODEL))
    # The same model with a ChatML chat template in its tokenizer_config.json.
    chat_folder = os.path.join(work, "models", CHAT_MODEL)
    os.makedirs(chat_folder)
    for f in os.listdir(os.path.join(ROOT, "models", MODEL)):
        os.symlink(os.path.join(ROOT, "models", MODEL, f), os.path.join(chat_folder, f))
    with open(os.path.join(chat_folder, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": CHATML, "eos_token": "<|im_end|>"}, f)
    minilm = os.environ.get("ZOO_MINILM_MODEL", "")
    if minilm and os.path.isdir(minilm):
        os.symlink(minilm, os.path.join(work, "models", "minilm"))
    else:
        print("SKIP  embeddings: ZOO_MINILM_MODEL is not set to an installed minilm (run `zoo pull minilm`)")
        minilm = ""

    # 1. On a Unix socket, one slot and no queue (so a second request is refused at once).
    http_sock = os.path.join(work, "http.sock")
    z = Zood(work, "zood", ["--http", f"unix:{http_sock}", "--parallel", "1", "--max-queue", "0"])
    try:
        z.wait_for(http_sock)
        check("the HTTP socket is 0600", (os.stat(http_sock).st_mode & 0o777) == 0o600, oct(os.stat(http_sock).st_mode))
        client = unix_client(http_sock)
        grpc_zoo = zoo_pb2_grpc.ZooStub(grpc.insecure_channel(f"unix://{z.socket}"))

        models = [m.id for m in client.models.list().data]
        check("models.list names the models", MODEL in models, models)
        check("models.retrieve", client.models.retrieve(MODEL).id == MODEL)

        # Greedy, so HTTP and gRPC must agree token for token.
        c = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=24, temperature=0)
        reference = "".join(m.text for m in grpc_zoo.Generate(zoo_pb2.GenerateRequest(
            model=MODEL, prompt="ROMEO:", options=zoo_pb2.GenerateOptions(max_tokens=24, temperature=0))))
        check("completion text equals gRPC's", c.choices[0].text == reference, f"{c.choices[0].text!r} vs {reference!r}")
        check("completion finish_reason length", c.choices[0].finish_reason == "length", c.choices[0].finish_reason)
        check("completion usage", c.usage.completion_tokens == 24 and c.usage.prompt_tokens > 0
              and c.usage.total_tokens == c.usage.prompt_tokens + 24, c.usage)
        check("completion id and object", c.id.startswith("cmpl-") and c.object == "text_completion", c)

        chunks = list(client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=24, temperature=0,
                                                stream=True, stream_options={"include_usage": True}))
        streamed = "".join(ch.choices[0].text for ch in chunks if ch.choices)
        check("streamed text equals the whole completion", streamed == c.choices[0].text, f"{streamed!r}")
        finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
        check("only the last chunk has a finish_reason", finishes[-1] == "length" and all(f is None for f in finishes[:-1]),
              finishes)
        check("the usage chunk comes last", chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 24,
              chunks[-1])

        lp = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=8, temperature=0, logprobs=2)
        logprobs = lp.choices[0].logprobs
        check("logprobs per token", len(logprobs.tokens) == 8 and len(logprobs.token_logprobs) == 8
              and all(v <= 0 for v in logprobs.token_logprobs) and all(len(t) <= 2 for t in logprobs.top_logprobs)
              and "".join(logprobs.tokens) == lp.choices[0].text, logprobs)
        check("text_offset counts characters", logprobs.text_offset[0] == 0
              and logprobs.text_offset[-1] == len(lp.choices[0].text) - len(logprobs.tokens[-1]), logprobs.text_offset)

        stop = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=200, temperature=0, stop=["\n"])
        check("a stop string ends with finish_reason stop", stop.choices[0].finish_reason == "stop"
              and "\n" not in stop.choices[0].text, stop.choices[0])

        seeded = [client.completions.create(model=MODEL, prompt="To be", max_tokens=16, seed=7, temperature=0.9)
                  .choices[0].text for _ in range(2)]
        check("the same seed gives the same text", seeded[0] == seeded[1], seeded)

        # Scoring: echo with max_tokens 0 (lm-evaluation-harness's log-likelihood request)
        # gives each prompt token's logprob as gRPC's Score does, the first null.
        scored = client.completions.create(model=MODEL, prompt="KING.\nWhat", max_tokens=0, echo=True, logprobs=1)
        score_ref = [t for m in grpc_zoo.Score(zoo_pb2.ScoreRequest(model=MODEL, text="KING.\nWhat", logprobs=1))
                     for t in m.tokens]
        slp = scored.choices[0].logprobs
        check("echo with max_tokens 0 scores the prompt", scored.choices[0].text == "KING.\nWhat"
              and slp.token_logprobs[0] is None and slp.top_logprobs[0] is None
              and all(abs(a - b.chosen.logprob) < 1e-6 for a, b in zip(slp.token_logprobs[1:], score_ref[1:]))
              and len(slp.tokens) == len(score_ref) == 10 and scored.usage.completion_tokens == 0, scored)
        echoed = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=8, temperature=0, echo=True, logprobs=1)
        check("echo with generation: the prompt, then the completion", echoed.choices[0].text == "ROMEO:" + lp.choices[0].text
              and echoed.choices[0].logprobs.tokens[6:] == lp.choices[0].logprobs.tokens
              and echoed.choices[0].logprobs.text_offset[6] == 6, echoed.choices[0])
        vllm = client.completions.create(model=MODEL, prompt="KING.\nWhat", max_tokens=2, temperature=0,
                                         extra_body={"prompt_logprobs": 2})
        plp = vllm.choices[0].model_extra.get("prompt_logprobs")
        check("vLLM's prompt_logprobs", isinstance(plp, list) and len(plp) == 10 and plp[0] is None
              and all(str(b.chosen.token) in entry and abs(entry[str(b.chosen.token)]["logprob"] - b.chosen.logprob) < 1e-6
                      and len(entry) in (2, 3) for entry, b in zip(plp[1:], score_ref[1:])), plp)

        # Chat: the conversation rendered by jinja2 as transformers does must give the
        # prompt zood rendered itself, so greedy answers agree token for token.
        from chat_template_fixtures import environment
        conversation = [{"role": "system", "content": "You write like Shakespeare."},
                        {"role": "user", "content": "Speak of the sea."}]
        rendered = environment().from_string(CHATML).render(messages=conversation, add_generation_prompt=True,
                                                             eos_token="<|im_end|>")
        reference = "".join(m.text for m in grpc_zoo.Generate(zoo_pb2.GenerateRequest(
            model=CHAT_MODEL, prompt=rendered, options=zoo_pb2.GenerateOptions(max_tokens=24, temperature=0))))
        chat = client.chat.completions.create(model=CHAT_MODEL, messages=conversation, max_tokens=24, temperature=0)
        check("chat applies the template as transformers does", chat.choices[0].message.content == reference,
              f"{chat.choices[0].message.content!r} vs {reference!r}")
        check("chat message, usage and object", chat.choices[0].message.role == "assistant"
              and chat.object == "chat.completion" and chat.id.startswith("chatcmpl-")
              and chat.usage.prompt_tokens == len(rendered.encode()) and chat.usage.completion_tokens == 24, chat)
        shown = grpc_zoo.ShowModel(zoo_pb2.ShowModelRequest(model=CHAT_MODEL))
        check("ShowModel returns the chat template", shown.chat_template == CHATML)
        chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=conversation, max_tokens=24,
                                                     temperature=0, stream=True, stream_options={"include_usage": True}))
        deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
        check("streamed chat equals the whole answer", "".join(d.content or "" for d in deltas) == reference
              and deltas[0].role == "assistant" and chunks[-1].usage.completion_tokens == 24
              and [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length", chunks[-2:])
        lp = client.chat.completions.create(model=CHAT_MODEL, messages=conversation, max_tokens=6, temperature=0,
                                            logprobs=True, top_logprobs=3)
        content = lp.choices[0].logprobs.content
        check("chat logprobs per token", len(content) == 6 and all(len(c.top_logprobs) == 3 for c in content)
              and "".join(c.token for c in content) == lp.choices[0].message.content, content)
        raises("chat on a model without a template is 400", openai.BadRequestError,
               lambda: client.chat.completions.create(model=MODEL, messages=conversation), 400, "no chat template")
        raises("tools are refused with 400", openai.BadRequestError,
               lambda: client.chat.completions.create(model=CHAT_MODEL, messages=conversation, tools=[
                   {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]), 400, "tools")

        extra = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=4,
                                          extra_body={"decoder": "ar", "top_k": 1})
        check("zoo's own options as extra body fields", extra.usage.completion_tokens == 4, extra)

        if minilm:
            texts = ["The cat sat on the mat.", "A dog ran in the park."]
            reference = grpc_zoo.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=texts))
            e = client.embeddings.create(model="minilm", input=texts)  # the package asks for base64
            close = all(max(abs(a - b) for a, b in zip(d.embedding, r.values)) < 1e-6
                        for d, r in zip(e.data, reference.embeddings))
            check("embeddings (base64) equal gRPC's", len(e.data) == 2 and close and len(e.data[0].embedding) == 384)
            check("embeddings usage", e.usage.prompt_tokens == reference.total_tokens, e.usage)
            f = client.embeddings.create(model="minilm", input="The cat sat on the mat.", encoding_format="float")
            check("embeddings as floats", max(abs(a - b) for a, b in zip(f.data[0].embedding, e.data[0].embedding)) < 1e-6)
            raises("dimensions other than the model's is 400", openai.BadRequestError,
                   lambda: client.embeddings.create(model="minilm", input="x", dimensions=16), 400, "dimensions")

        raises("an unknown model is 404", openai.NotFoundError,
               lambda: client.completions.create(model="no-such-model", prompt="x"), 404, "no-such-model")
        raises("a bad option is 400", openai.BadRequestError,
               lambda: client.completions.create(model=MODEL, prompt="x", temperature=-1), 400, "temperature")
        raises("n > 1 is 400", openai.BadRequestError,
               lambda: client.completions.create(model=MODEL, prompt="x", n=2), 400, "n must be 1")
        raises("a missing field is 400", openai.BadRequestError,
               lambda: client.completions.create(model=MODEL, prompt=None), 400, "prompt")
        raises("an unknown decoder is 400", openai.BadRequestError,
               lambda: client.completions.create(model=MODEL, prompt="x", extra_body={"decoder": "nope"}), 400, "nope")
        raw = httpx.Client(transport=httpx.HTTPTransport(uds=http_sock), base_url="http://zood")
        r = raw.post("/v1/completions", content=b"{not json")
        check("a body that is not JSON is 400 in OpenAI's shape", r.status_code == 400
              and r.json()["error"]["type"] == "invalid_request_error", r.text)
        r = raw.get("/v1/completions")
        check("a wrong method is 405", r.status_code == 405 and "error" in r.json(), r.text)
        r = raw.get("/v1/nothing")
        check("an unknown path is 404", r.status_code == 404 and "error" in r.json(), r.text)

        # Metrics: counters move by exactly what was asked between two scrapes.
        before = scrape(raw.get("/metrics").text)
        answers = [client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=n, temperature=0) for n in (3, 5)]
        raises("(for the metrics) an unknown model", openai.NotFoundError,
               lambda: client.completions.create(model="no-such-model", prompt="x"), 404)
        r = raw.get("/metrics")
        after = scrape(r.text)
        ok = dict(rpc="Generate", model=MODEL, decoder="ar", outcome="ok")
        check("/metrics is Prometheus text", r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
              and "# TYPE zoo_requests_total counter" in r.text, r.text[:300])
        check("zoo_requests_total counts the generations", metric(after, "zoo_requests_total", **ok)
              - metric(before, "zoo_requests_total", **ok) == 2, (metric(before, "zoo_requests_total", **ok),
                                                                 metric(after, "zoo_requests_total", **ok)))
        missing = dict(rpc="Generate", model="", decoder="", outcome="not_found")
        check("an unknown model counts as not_found without its name as a label",
              metric(after, "zoo_requests_total", **missing) - metric(before, "zoo_requests_total", **missing) == 1
              and "no-such-model" not in r.text)
        check("zoo_generated_tokens_total", metric(after, "zoo_generated_tokens_total", model=MODEL)
              - metric(before, "zoo_generated_tokens_total", model=MODEL) == 8)
        check("zoo_prompt_tokens_total", metric(after, "zoo_prompt_tokens_total", model=MODEL)
              - metric(before, "zoo_prompt_tokens_total", model=MODEL) == sum(a.usage.prompt_tokens for a in answers))
        check("time to first token histogram", metric(after, "zoo_time_to_first_token_seconds_count", model=MODEL)
              - metric(before, "zoo_time_to_first_token_seconds_count", model=MODEL) == 2)
        check("request duration histogram", metric(after, "zoo_request_duration_seconds_count", rpc="Generate", model=MODEL)
              - metric(before, "zoo_request_duration_seconds_count", rpc="Generate", model=MODEL) == 3 - 1)
        check("loaded models and plugin states", metric(after, "zoo_loaded_models") >= 1
              and metric(after, "zoo_loaded_model_bytes", model=MODEL) > 0
              and metric(after, "zoo_plugin_state", plugin="statespace", state="ready") == 1
              and metric(after, "zoo_active_requests", model=MODEL) == 0, r.text)
        cli = subprocess.run([os.path.join(build_dir(), "zoo"), "metrics", "--socket", z.socket],
                             capture_output=True, text=True)
        check("`zoo metrics` prints the same metrics over gRPC", cli.returncode == 0
              and metric(scrape(cli.stdout), "zoo_requests_total", **ok) == metric(after, "zoo_requests_total", **ok),
              cli.stderr)

        # The one slot busy with a stream: the next request is refused 429 (queue 0).
        long = client.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=4000, temperature=1, stream=True)
        next(iter(long))
        raises("a full queue is 429", openai.RateLimitError,
               lambda: client.completions.create(model=MODEL, prompt="x", max_tokens=2), 429, "busy")
        # The client disconnects mid-stream: its slot is free again at once.
        long.close()
        freed = False
        deadline = time.time() + 10
        while time.time() < deadline and not freed:
            loaded = grpc_zoo.ListLoaded(zoo_pb2.ListLoadedRequest()).models
            freed = all(m.active_requests == 0 for m in loaded)
            time.sleep(0.05)
        check("a client that disconnects mid-stream frees its slot", freed)
        check("the next request runs", client.completions.create(model=MODEL, prompt="x", max_tokens=2)
              .usage.completion_tokens == 2)
    finally:
        status = z.stop()
    check("zood exits 0 and removes the HTTP socket", status == 0 and not os.path.exists(http_sock), status)

    # 2. On loopback TCP with an API key.
    key_file = os.path.join(work, "key")
    with open(key_file, "w") as f:
        f.write("sk-zoo-test\n")
    port = free_port()
    z = Zood(work, "zood-tcp", ["--http", f"127.0.0.1:{port}", "--http-api-key-file", key_file])
    try:
        z.wait_for(port)
        base = f"http://127.0.0.1:{port}/v1"
        good = openai.OpenAI(base_url=base, api_key="sk-zoo-test", max_retries=0)
        check("the right key is served", MODEL in [m.id for m in good.models.list().data])
        raises("a wrong key is 401", openai.AuthenticationError,
               lambda: openai.OpenAI(base_url=base, api_key="sk-wrong", max_retries=0).models.list(), 401, "API key")
        r = httpx.get(f"{base}/models")
        check("no key is 401", r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", r.text)

        # SIGTERM mid-stream: the stream ends with an error event saying why, zood exits 0.
        stream = good.completions.create(model=MODEL, prompt="ROMEO:", max_tokens=4000, stream=True)
        next(iter(stream))
        z.proc.terminate()
        try:
            for _ in stream:
                pass
            check("SIGTERM mid-stream ends it with an error event", False, "the stream ended without an error")
        except openai.APIError as e:
            check("SIGTERM mid-stream ends it with an error event", "shutting down" in str(e), str(e))
    finally:
        status = z.stop()
    check("zood exits 0 after SIGTERM with a stream open", status == 0, status)

    # 3. Listening beyond loopback needs --http-allow-remote and a key.
    refused = subprocess.run([os.path.join(build_dir(), "zood"), "--http", "0.0.0.0:8080"], capture_output=True, text=True)
    check("a remote address without --http-allow-remote is refused", refused.returncode != 0
          and "--http-allow-remote" in refused.stderr, refused.stderr)
    refused = subprocess.run([os.path.join(build_dir(), "zood"), "--http", "0.0.0.0:8080", "--http-allow-remote"],
                             capture_output=True, text=True)
    check("--http-allow-remote without a key is refused", refused.returncode != 0
          and "--http-api-key-file" in refused.stderr, refused.stderr)

    check.summary()
    if check.failed:
        for name in ["zood.log", "zood-tcp.log"]:
            path = os.path.join(work, name)
            if os.path.exists(path):
                print(f"--- {name}\n" + open(path).read()[-4000:])
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
