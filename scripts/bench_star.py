#!/usr/bin/env python3
"""Star-graph planning through zood: insertion LM (ILM) vs autoregressive (AR) vs masked
diffusion (MDM), on the held-out test graphs of training/star_graph.py
(training/data/star-<task>-test.jsonl). For each bundled model of models/{ilm,ar,mdm}-star-
{easy,hard} it reports exact-match accuracy (the answer must equal the path), valid-path rate,
forward passes per answer (zood's GenerateStats.forward_passes) and answer tokens per second
of wall time (the client's clock around each request), all at temperature 0.

  ilm  decoder "ilm", decoder_options {"stop_threshold": zoo.json's stop_threshold}; the prompt
       is sent as text; zood inserts only after the prompt's last byte (and after its own
       insertions), so the answer is the final text minus the prompt.
  ar   decoder "ar", max_tokens = zoo.json's max_new_tokens, answer up to the first EOS byte (0).
  mdm  decoder "llada", max_tokens = zoo.json's gen_length, block_length / steps from zoo.json,
       answer up to the first EOS byte.

The training-side numbers (PyTorch reference decoders) are in each zoo.json under
results.test_accuracy; the two should agree at temperature 0.

    python3 scripts/bench_star.py --zood .build/release/zood --graphs 500
    python3 scripts/bench_star.py --only ar-star-easy,mdm-star-easy      # a subset
Not part of CI; needs a built zood (this script does not build it) and grpcio-tools.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))
import star_graph  # noqa: E402

MODELS = ["ilm-star-easy", "ar-star-easy", "mdm-star-easy", "ilm-star-hard", "ar-star-hard", "mdm-star-hard"]


def find_zood(given):
    for c in ([given] if given else []) + [os.path.join(ROOT, ".build", "release", "zood"),
                                            os.path.join(ROOT, ".build", "debug", "zood")]:
        if c and os.path.exists(c):
            return c
    sys.exit("no zood binary: give --zood, or build zoo first (this script does not build it)")


def request_for(zoo_pb2, model, meta, prompt):
    d = meta.get("default_decoder")
    if d == "ilm":
        opts = {"stop_threshold": str(meta.get("stop_threshold", 0.5))}
        max_tokens = int(meta.get("max_steps", 16))
    elif d == "llada":
        # The generation length is max_tokens (zood's llada decoder fills exactly that many).
        g = str(meta["gen_length"])
        opts = {"block_length": str(meta.get("block_length", g)), "steps": str(meta.get("default_steps", g))}
        max_tokens = int(meta["gen_length"])
    else:
        opts = {}
        max_tokens = int(meta.get("max_new_tokens", 16))
    return zoo_pb2.GenerateRequest(model=model, prompt=prompt, options=zoo_pb2.GenerateOptions(
        max_tokens=max_tokens, temperature=0, decoder=d, decoder_options=opts))


def extract_answer(decoder, prompt, messages):
    """The answer text from a Generate stream. ILM: zood's text is the prompt with the insertions
    (in the final message, or accumulated); AR/LLaDA: the generated text up to the first EOS."""
    joined = "".join(m.text for m in messages)
    if decoder == "ilm":
        final = messages[-1].text if messages else ""
        for t in (final, joined):
            if t.startswith(prompt):
                return t[len(prompt):]
        return joined
    return joined.split("\x00", 1)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zood", default=None, help="zood binary (default .build/release/zood, then .build/debug/zood)")
    p.add_argument("--models-dir", default=os.path.join(ROOT, "models"))
    p.add_argument("--only", default=None, help="comma-separated model names (default: every star model present)")
    p.add_argument("--graphs", type=int, default=500, help="test graphs per task (at most 500)")
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_embeddings import connect, generate_stubs

    names = a.only.split(",") if a.only else [m for m in MODELS if os.path.isdir(os.path.join(a.models_dir, m))]
    if not names:
        sys.exit(f"no star models in {a.models_dir}")
    zood_bin = find_zood(a.zood)
    bin_dir = os.path.dirname(os.path.abspath(zood_bin))

    work = tempfile.mkdtemp(prefix="zoo-bench-star-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2

    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins, mode=0o700)
    for lib in glob.glob(os.path.join(bin_dir, "libZoo*.so")) + glob.glob(os.path.join(bin_dir, "libZoo*.dylib")):
        shutil.copy(lib, plugins)
    sock = os.path.join(work, "zood.sock")
    zood = subprocess.Popen([zood_bin, "--socket", sock, "--models", a.models_dir, "--plugins", plugins,
                             "--log-level", "warning"])
    results = {}
    try:
        channel, zoo = connect(sock)
        for name in names:
            with open(os.path.join(a.models_dir, name, "zoo.json")) as f:
                meta = json.load(f)
            task = meta["results"]["task"]
            with open(star_graph.test_path(task)) as f:
                graphs = [json.loads(line) for line in f][: a.graphs]
            decoder = meta["default_decoder"]
            right = valid = passes = tokens = 0
            errors = []
            start = time.perf_counter()
            try:
                for g in graphs:
                    msgs = list(zoo.Generate(request_for(zoo_pb2, name, meta, g["prompt"])))
                    ans = extract_answer(decoder, g["prompt"], msgs)
                    right += ans == g["answer"]
                    valid += star_graph.check_path(g["prompt"], ans)
                    passes += msgs[-1].stats.forward_passes
                    tokens += len(ans)
                    if ans != g["answer"] and len(errors) < 3:
                        errors.append({"prompt": g["prompt"], "answer": g["answer"], "got": ans})
            except grpc.RpcError as e:
                results[name] = {"error": f"{e.code().name}: {e.details()[:160]}"}
                print(f"{name}: refused: {results[name]['error']}", file=sys.stderr, flush=True)
                continue
            seconds = time.perf_counter() - start
            n = len(graphs)
            results[name] = {"task": task, "decoder": decoder, "graphs": n, "exact_match": right / n,
                             "valid_path": valid / n, "forward_passes_per_answer": passes / n,
                             "answer_tokens_per_second": tokens / seconds, "seconds": round(seconds, 1),
                             "reference_exact_match": meta["results"]["test_accuracy"]["exact_match"],
                             "first_errors": errors}
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
        channel.close()
    finally:
        zood.terminate()
        zood.wait()
        shutil.rmtree(work, ignore_errors=True)

    print("| model | decoder | graphs | exact match (zood) | exact match (PyTorch reference) | valid path | "
          "forward passes per answer | answer tokens/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        r = results.get(name, {})
        if "error" in r:
            print(f"| {name} | refused: {r['error']} | | | | | | |")
            continue
        print(f"| {name} | {r['decoder']} | {r['graphs']} | {100 * r['exact_match']:.1f}% | "
              f"{100 * r['reference_exact_match']:.1f}% | {100 * r['valid_path']:.1f}% | "
              f"{r['forward_passes_per_answer']:.2f} | {r['answer_tokens_per_second']:.0f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
