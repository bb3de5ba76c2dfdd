#!/usr/bin/env python3
"""Star-graph path-finding data for zoo's planning models (ILM vs AR vs MDM).

Task (Bachmann & Nagarajan 2024, "The pitfalls of next-token prediction"; as used by the ILM
paper, Patel et al. arXiv 2505.05755): given the shuffled directed edge list of a star-like
graph, a source and a goal, output the path from source to goal.

Generators, written from the semantics of the official ones in dhruvdcoder/ILM
src/pcdd/datamodule/star_v2.py (seeded numpy Generator here instead of the global RNGs):

  easy  = SimpleStarGraphGenerator(degree 3, pathlength 5, vocab_size 20)
          (configs/lightning_train/dataset/star_small.yaml): the source is the centre; the
          path is source, 3 distinct random nodes, goal (goal != source, 5 nodes); degree - 1
          further arms of pathlength - 1 fresh nodes each hang off the source; no node repeats;
          edges shuffled. Answer: the 5 path nodes.
  hard  = AsymmetricVariableArmlengthStarGraphGenerator(degree 5, min_pathlength 6,
          max_pathlength 12, min_plan_length 5, vocab_size 56)
          (configs/lightning_train/dataset/vstar_medium_v2.yaml): 5 directed chains ("arms")
          with lengths (in nodes) uniform in 6..12; each arm passes through the shared centre
          node at a join index uniform in [0, length - min_plan_length); all other nodes are
          distinct ids drawn without replacement; edges follow each arm; the path is arm 0 from
          its first node (the source, possibly before the centre) to its last node (the goal).
          Answer: the 6..12 nodes of arm 0.

Text encoding (byte level, zoo serves these models with the "bytes" tokenizer): node i is
NODE_CHARS[i] ("0-9a-zA-Z"). Like the official layout (edge list with edge separators, then
source and goal, then the path), a graph is written as

    prompt = "e1,e2,...,eK/" + source + goal + "="      each edge e = 2 chars "uv" (u -> v)
    answer = the path's node characters, source first, goal last

e.g. "ab,cd,bc/ad=" + "abcd". The prompt ends at "=", the final separator (it plays the part of
the official BOS between the source/goal and the path). The official ILM tokenizer writes the
path as its edges (u v v w ...); we write the nodes, which halves the answer length.

Splits: the test set (500 graphs, seed TEST_SEED[task]) is written to
training/data/star-<task>-test.jsonl ({"prompt", "answer"} per line) and checked if present.
The training set (50,000 graphs by default, seed TRAIN_SEED[task]) is regenerated in memory
(it would be 2.5 MB / 9 MB of jsonl); any graph whose edge set, source and goal equal a test
graph's is skipped, so no test graph appears in train. `--write-train` also writes it to
training/data/star-<task>-train.jsonl (not committed).

    python training/star_graph.py              # write/check both test files, print stats
"""

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TASKS = {
    "easy": dict(kind="simple", degree=3, pathlength=5, vocab_size=20),
    "hard": dict(kind="asymmetric", degree=5, min_pathlength=6, max_pathlength=12, min_plan_length=5,
                 vocab_size=56),
}
TEST_SEED = {"easy": 20260611, "hard": 20260612}
TRAIN_SEED = {"easy": 1, "hard": 2}
TEST_SIZE = 500
TRAIN_SIZE = 50000


def simple_star_graph(rng, degree=3, pathlength=5, vocab_size=20):
    """Official star_v2.simple_star_graph semantics (adapted there from Bachmann & Nagarajan)."""
    if vocab_size < pathlength * degree + 1:
        raise ValueError("vocab_size must be >= pathlength * degree + 1")
    source = int(rng.integers(vocab_size))
    goal = int(rng.integers(vocab_size))
    while goal == source:
        goal = int(rng.integers(vocab_size))
    path = [source]
    for _ in range(pathlength - 2):
        node = int(rng.integers(vocab_size))
        while node in path or node == goal:
            node = int(rng.integers(vocab_size))
        path.append(node)
    path.append(goal)
    edges = [(path[i], path[i + 1]) for i in range(len(path) - 1)]
    used = set(path)
    for _ in range(degree - 1):
        node = source
        for _ in range(pathlength - 1):
            nxt = int(rng.integers(vocab_size))
            while nxt in used:
                nxt = int(rng.integers(vocab_size))
            edges.append((node, nxt))
            used.add(nxt)
            node = nxt
    order = rng.permutation(len(edges))
    return {"edges": [edges[i] for i in order], "source": source, "goal": goal, "path": path}


def asymmetric_star_graph(rng, degree=5, min_pathlength=6, max_pathlength=12, min_plan_length=5,
                          vocab_size=56):
    """Official star_v2.asymmetric_variable_armlength_star_graph semantics."""
    if vocab_size < max_pathlength * degree - degree + 1:
        raise ValueError("vocab_size too small")
    if min_plan_length > min_pathlength:
        raise ValueError("min_plan_length must be <= min_pathlength")
    lengths = rng.integers(min_pathlength, max_pathlength + 1, degree)
    joins = [int(rng.integers(int(n) - min_plan_length)) for n in lengths]
    ids = [int(v) for v in rng.choice(vocab_size, int(lengths.sum()) - degree + 1, replace=False)]
    centre, j = ids[0], 1
    arms = []
    for a in range(degree):
        arm = []
        for k in range(int(lengths[a])):
            if k == joins[a]:
                arm.append(centre)
            else:
                arm.append(ids[j])
                j += 1
        arms.append(arm)
    edges = [(arm[k], arm[k + 1]) for arm in arms for k in range(len(arm) - 1)]
    path = arms[0]
    order = rng.permutation(len(edges))
    return {"edges": [edges[i] for i in order], "source": path[0], "goal": path[-1], "path": path}


def make_graph(rng, task):
    p = dict(TASKS[task])
    kind = p.pop("kind")
    return simple_star_graph(rng, **p) if kind == "simple" else asymmetric_star_graph(rng, **p)


def encode(g):
    c = NODE_CHARS
    prompt = ",".join(c[u] + c[v] for u, v in g["edges"]) + "/" + c[g["source"]] + c[g["goal"]] + "="
    return prompt, "".join(c[v] for v in g["path"])


def key_of(prompt):
    """Identity of a graph instance: its edge set, source and goal (edge order ignored)."""
    edges, sg = prompt[:-1].split("/")
    return (frozenset(edges.split(",")), sg)


def check_path(prompt, answer):
    """True iff answer is a valid source -> goal path along the prompt's edges."""
    edges, sg = prompt[:-1].split("/")
    es = set(edges.split(","))
    return (len(answer) >= 2 and answer[0] == sg[0] and answer[-1] == sg[1]
            and all(answer[i:i + 2] in es for i in range(len(answer) - 1)))


def test_examples(task):
    rng = np.random.default_rng(TEST_SEED[task])
    out, seen = [], set()
    while len(out) < TEST_SIZE:
        p, a = encode(make_graph(rng, task))
        k = key_of(p)
        if k not in seen:
            seen.add(k)
            out.append((p, a))
    return out


def test_path(task):
    return os.path.join(HERE, "data", f"star-{task}-test.jsonl")


def write_or_check_test(task):
    ex = test_examples(task)
    lines = [json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in ex]
    path = test_path(task)
    if os.path.exists(path):
        with open(path) as f:
            if f.readlines() != lines:
                raise SystemExit(f"{path} differs from what seed {TEST_SEED[task]} generates")
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.writelines(lines)
    return ex


def train_examples(task, size=TRAIN_SIZE, test=None):
    """size graphs from seed TRAIN_SEED[task], skipping any graph of the test set."""
    test = test if test is not None else test_examples(task)
    banned = {key_of(p) for p, _ in test}
    rng = np.random.default_rng(TRAIN_SEED[task])
    out = []
    skipped = 0
    while len(out) < size:
        p, a = encode(make_graph(rng, task))
        if key_of(p) in banned:
            skipped += 1
            continue
        out.append((p, a))
    return out, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-train", action="store_true")
    args = ap.parse_args()
    for task in TASKS:
        test = write_or_check_test(task)
        train, skipped = train_examples(task, test=test)
        assert all(check_path(p, a) for p, a in test + train[:2000])
        tk = {key_of(p) for p, _ in test}
        assert not any(key_of(p) in tk for p, _ in train)
        lp = [len(p) for p, _ in test]
        la = [len(a) for _, a in test]
        print(f"{task}: test {len(test)} (prompt {min(lp)}-{max(lp)} bytes, answer {min(la)}-{max(la)}), "
              f"train {len(train)} ({skipped} test graphs skipped, {len(set(key_of(p) for p, _ in train))} distinct)")
        print("  e.g.", test[0][0], "->", test[0][1])
        if args.write_train:
            with open(os.path.join(HERE, "data", f"star-{task}-train.jsonl"), "w") as f:
                for p, a in train:
                    f.write(json.dumps({"prompt": p, "answer": a}) + "\n")


if __name__ == "__main__":
    main()
