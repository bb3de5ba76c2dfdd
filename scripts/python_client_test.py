#!/usr/bin/env python3
"""End-to-end check from Python: a grpcio client generated from proto/ talks to a
real zood over its Unix socket. Lists plugins and models, streams a generation,
cancels one mid-stream, and checks error codes. Run by scripts/test after the build.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.environ.get("ZOO_FIXTURES") or os.path.join(ROOT, "Tests", "Fixtures")


def build_dir():
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def generate_stubs(into):
    from grpc_tools import protoc
    proto = os.path.join(ROOT, "proto")
    os.makedirs(into, exist_ok=True)
    # grpc.health.v1 comes from grpcio-health-checking: generating it here would
    # shadow the grpc package itself.
    for f in ["zoo/v1/zoo.proto", "zoo/v1/plugin.proto"]:
        rc = protoc.main(["protoc", f"-I{proto}", f"--python_out={into}", f"--grpc_python_out={into}", f])
        if rc != 0:
            raise SystemExit(f"protoc failed for {f}")
    sys.path.insert(0, into)


def main():
    work = tempfile.mkdtemp(prefix="zoo-py-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    bin_dir = build_dir()
    plugins = os.path.join(work, "plugins")
    models = os.path.join(work, "models")
    os.makedirs(plugins, mode=0o700)
    os.makedirs(os.path.join(models, "mamba-bytes"))
    for lib in ["libZooStateSpace.so", "libZooAutoregressive.so", "libZooTransformer.so", "libZooInsertion.so"]:
        shutil.copy(os.path.join(bin_dir, lib), plugins)
    # all-MiniLM-L6-v2 as `zoo pull minilm` installed it (scripts/test sets the variable).
    minilm = os.environ.get("ZOO_MINILM_MODEL", "")
    if minilm and os.path.isdir(minilm):
        os.symlink(minilm, os.path.join(models, "minilm"))
    else:
        print("SKIP  Embed with minilm: ZOO_MINILM_MODEL is not set to an installed minilm (run `zoo pull minilm`)")
        minilm = ""
    for f in ["config.json", "model.safetensors"]:
        shutil.copy(os.path.join(FIXTURES, "mamba-hf", f), os.path.join(models, "mamba-bytes"))
    os.makedirs(os.path.join(models, "ilm-tiny"))
    for f in ["config.json", "model.safetensors"]:
        shutil.copy(os.path.join(FIXTURES, "ilm-tiny", f), os.path.join(models, "ilm-tiny"))
    with open(os.path.join(models, "mamba-bytes", "zoo.json"), "w") as f:
        # No EOS: the fixture says eos 0, which sampling from random weights can draw,
        # ending the streams this test cancels or lets time out.
        f.write('{"tokenizer": "bytes", "eos_token_ids": []}')
    sock = os.path.join(work, "zood.sock")
    log = open(os.path.join(work, "zood.log"), "w")
    zood = subprocess.Popen([os.path.join(bin_dir, "zood"), "--socket", sock, "--models", models, "--plugins", plugins],
                            stdout=log, stderr=log)
    passed, failed = 0, 0

    def check(name, cond, detail=""):
        nonlocal passed, failed
        if cond:
            passed += 1
            print(f"ok    {name}")
        else:
            failed += 1
            print(f"FAIL  {name} {detail}")

    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = zoo_pb2_grpc.ZooStub(channel)

        plugins = stub.ListPlugins(zoo_pb2.ListPluginsRequest()).plugins
        names = {p.manifest.name for p in plugins if p.state == zoo_pb2.PluginStatus.STATE_READY}
        check("ListPlugins shows statespace and autoregressive READY", {"statespace", "autoregressive"} <= names, names)

        models = stub.ListModels(zoo_pb2.ListModelsRequest()).models
        expected = ["ilm-tiny", "mamba-bytes", "minilm"] if minilm else ["ilm-tiny", "mamba-bytes"]
        check("ListModels lists the models", sorted(m.name for m in models) == expected, models)

        request = zoo_pb2.GenerateRequest(model="mamba-bytes", prompt="Hello",
                                          options=zoo_pb2.GenerateOptions(max_tokens=12, temperature=0, logprobs=3))
        messages = list(stub.Generate(request))
        tokens = [t for m in messages for t in m.token_ids]
        check("Generate streams 12 tokens then a final message", len(tokens) == 12 and len(messages) == 13, len(messages))
        check("final message is done with finish LENGTH",
              messages[-1].done and messages[-1].finish_reason == zoo_pb2.FINISH_REASON_LENGTH)
        check("stats count 12 forward passes (prompt + 11 steps)", messages[-1].stats.forward_passes == 12,
              messages[-1].stats.forward_passes)
        check("each token carries logprobs with 3 alternatives",
              all(len(lp.top) == 3 for m in messages[:-1] for lp in m.logprobs))
        again = [t for m in stub.Generate(request) for t in m.token_ids]
        check("greedy generation is deterministic", again == tokens)

        call = stub.Generate(zoo_pb2.GenerateRequest(model="mamba-bytes", prompt_token_ids=[1, 2],
                                                     options=zoo_pb2.GenerateOptions(max_tokens=60000)))
        got = 0
        for _ in call:
            got += 1
            if got == 5:
                call.cancel()
                break
        check("client cancel mid-stream", got == 5 and call.code() == grpc.StatusCode.CANCELLED, call.code())
        freed = False
        for _ in range(100):
            loaded = stub.ListLoaded(zoo_pb2.ListLoadedRequest()).models
            if all(m.active_requests == 0 for m in loaded):
                freed = True
                break
            time.sleep(0.05)
        check("the cancelled request frees its slot", freed)

        try:
            list(stub.Generate(zoo_pb2.GenerateRequest(model="nope", prompt="x")))
            check("unknown model is NOT_FOUND", False)
        except grpc.RpcError as e:
            check("unknown model is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, e.code())
        try:
            list(stub.Generate(zoo_pb2.GenerateRequest(model="mamba-bytes", prompt="x",
                                                       options=zoo_pb2.GenerateOptions(top_p=2))))
            check("top_p 2 is INVALID_ARGUMENT", False)
        except grpc.RpcError as e:
            check("top_p 2 is INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code())
        try:
            list(stub.Generate(zoo_pb2.GenerateRequest(model="mamba-bytes", prompt="x",
                                                       options=zoo_pb2.GenerateOptions(decoder_options={"beams": "4"}))))
            check("an option ar does not declare is INVALID_ARGUMENT", False)
        except grpc.RpcError as e:
            check("an option ar does not declare is INVALID_ARGUMENT",
                  e.code() == grpc.StatusCode.INVALID_ARGUMENT and "has no option 'beams'" in e.details(), e.details())
        try:
            list(stub.Generate(zoo_pb2.GenerateRequest(model="mamba-bytes", prompt_token_ids=[1],
                                                       options=zoo_pb2.GenerateOptions(max_tokens=60000)),
                               timeout=0.5))
            check("deadline is DEADLINE_EXCEEDED", False)
        except grpc.RpcError as e:
            check("deadline is DEADLINE_EXCEEDED", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code())

        try:
            stub.Embed(zoo_pb2.EmbedRequest(model="mamba-bytes", texts=["hello"]))
            check("Embed on a model that cannot embed is FAILED_PRECONDITION", False)
        except grpc.RpcError as e:
            check("Embed on a model that cannot embed is FAILED_PRECONDITION",
                  e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.code())
        if minilm:
            r = stub.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=["a cat sits on the mat", "a kitten rests on a rug",
                                                                       "stock markets fell sharply"]))
            v = [list(e.values) for e in r.embeddings]
            dot = lambda a, b: sum(x * y for x, y in zip(a, b))
            # Normalised in float32: |v|² is within a few float32 roundings (6e-8 each) of 1;
            # 1e-4 only asks that they are unit vectors, not how zoo rounds. The 0.2 gap
            # between similarities is about meaning, far above any rounding.
            check("Embed returns 3 unit vectors of 384", r.dimensions == 384 and len(v) == 3 and
                  all(abs(dot(x, x) - 1) < 1e-4 for x in v), r.dimensions)
            check("similar sentences are closer than unrelated ones", dot(v[0], v[1]) > dot(v[0], v[2]) + 0.2,
                  (dot(v[0], v[1]), dot(v[0], v[2])))

        # A template with two gaps, as the official ILM predictor fills it
        # (Tests/Fixtures/ilm-tiny/cases.json, infill_two_gaps).
        with open(os.path.join(FIXTURES, "ilm-tiny", "cases.json")) as f:
            case = next(c for c in json.load(f)["decode"] if c["name"] == "infill_two_gaps")
        segments = [zoo_pb2.PromptSegment(token_ids=[8, 17], gap_after=True),
                    zoo_pb2.PromptSegment(token_ids=[13, 21], gap_after=True), zoo_pb2.PromptSegment(token_ids=[29])]
        filled = list(stub.Generate(zoo_pb2.GenerateRequest(model="ilm-tiny", segments=segments, options=zoo_pb2.GenerateOptions(
            decoder="ilm", temperature=0, decoder_options={"max_steps": "6", "suppress": "4"}))))
        ids = [t for m in filled for t in m.token_ids]
        check("infill fills both gaps as the official ILM predictor", ids == case["output_tokens"][2:], ids)
        try:
            list(stub.Generate(zoo_pb2.GenerateRequest(model="ilm-tiny", segments=[zoo_pb2.PromptSegment(token_ids=[8])])))
            check("a template without a gap is INVALID_ARGUMENT", False)
        except grpc.RpcError as e:
            check("a template without a gap is INVALID_ARGUMENT",
                  e.code() == grpc.StatusCode.INVALID_ARGUMENT and "no gap" in e.details(), e.details())

        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        check("health is SERVING", health.status == health_pb2.HealthCheckResponse.SERVING)
        channel.close()
    finally:
        zood.terminate()
        code = zood.wait(timeout=30)
        check("zood exits 0 on SIGTERM", code == 0, code)
        log.close()
        if failed:
            print(open(os.path.join(work, "zood.log")).read()[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    print(f"python-client: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
