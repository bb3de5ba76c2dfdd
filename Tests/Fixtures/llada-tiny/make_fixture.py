#!/usr/bin/env python3
"""Build zoo's llada-tiny parity fixture from the OFFICIAL LLaDA / Fast-dLLM / DCD / Window-Diffusion code.

    python3 Tests/Fixtures/llada-tiny/make_fixture.py [OUT]      # OUT defaults to this folder

The official repositories must be checked out (unmodified) under $DLLM_OFFICIAL
(default /tmp/official):
    $DLLM_OFFICIAL/NVlabs+Fast-dLLM   (llada/model/*, llada/generate.py)
    $DLLM_OFFICIAL/ML-GSAI+LLaDA      (generate.py)
    $DLLM_OFFICIAL/shuyingte+DCD      (decode_algorithm.py, dllm_model.py, llada/model/*, dream/model/*)
    $DLLM_OFFICIAL/vhicrgit+Window-Diffusion   (llada/model/modeling_llada.py)
See README.md for the commits and for every adaptation made here (all of them are
arguments or monkeypatches in this script; no official file is edited).
"""
import importlib.util
import json
import os
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)

OFFICIAL = os.environ.get("DLLM_OFFICIAL", "/tmp/official")
FAST = os.path.join(OFFICIAL, "NVlabs+Fast-dLLM")
GSAI = os.path.join(OFFICIAL, "ML-GSAI+LLaDA")
DCD = os.path.join(OFFICIAL, "shuyingte+DCD")
WINDIFF = os.path.join(OFFICIAL, "vhicrgit+Window-Diffusion")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE

MASK, EOS = 63, 62
PROMPT_SEED = int(os.environ.get("LLADA_TINY_PROMPT_SEED", "3"))
# Gains g on N(0,1)/sqrt(in): the head gain makes the model peaky; the q/k and v/out gains
# make attention sharp enough that masked positions differ (with g = 1 every [MASK] position
# of an all-mask tail gets the same prediction and confidences tie exactly).
GAINS = {"transformer.ff_out.weight": 8.0, "q_proj.weight": 4.0, "k_proj.weight": 4.0,
         "v_proj.weight": 2.0, "attn_out.weight": 2.0}


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- official modules
# Fast-dLLM: llada/generate.py does `from model.modeling_llada import LLaDAModelLM`,
# so its llada/ folder goes on sys.path (package name `model`).
sys.path.insert(0, os.path.join(FAST, "llada"))
from model.configuration_llada import LLaDAConfig            # noqa: E402  (Fast-dLLM)
from model.modeling_llada import LLaDAModelLM                 # noqa: E402  (Fast-dLLM)
fast_gen = load_module("fastdllm_llada_generate", os.path.join(FAST, "llada", "generate.py"))
gsai_gen = load_module("gsai_llada_generate", os.path.join(GSAI, "generate.py"))


def build_model():
    config = LLaDAConfig(
        d_model=48, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=96, mlp_ratio=2,
        activation_type="silu", block_type="llama", rope=True, rope_theta=10000.0,
        rope_full_precision=True, layer_norm_type="rms", layer_norm_with_affine=True,
        rms_norm_eps=1e-5, include_bias=False, include_qkv_bias=False, bias_for_layer_norm=False,
        attention_layer_norm=False, alibi=False, scale_logits=False, input_emb_norm=False,
        weight_tying=False, flash_attention=False, multi_query_attention=None,
        vocab_size=64, embedding_size=64, max_sequence_length=128,
        mask_token_id=MASK, eos_token_id=EOS, pad_token_id=EOS, init_device="cpu",
        attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0,
        use_cache=False, dtype="float32",
    )
    torch.manual_seed(0)
    model = LLaDAModelLM(config, init_params=True).float().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.2 * z)
            elif name.endswith("wte.weight"):
                p.copy_(z)
            else:
                g = next((v for k, v in GAINS.items() if name.endswith(k)), 1.0)
                p.copy_(z / p.shape[1] ** 0.5 * g)
        # Like the real LLaDA, the model must never predict [MASK]: its head row is zero, so
        # its logit is exactly 0 while the top logit of a position is typically ~+20.
        model.model.transformer.ff_out.weight[MASK].zero_()
    return model, gen



# ---------------------------------------------------------------- instrumentation
class Recorder:
    """Counts model forward calls and collects the decision margins of one decode run."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.nfe = 0
        self.calls = []          # (input clone, logits) per forward, for the LLaDA sampler
        self.margins = []        # top1 - top2 prob at every committed position
        self.thr_gaps = []       # |confidence - threshold| over every candidate position
        self.rank_gaps = []      # fixed-count decoders: min selected conf - max unselected conf
        self.idle = 0            # Fast-dLLM model calls after which no mask was committed

    def wrap(self, module, keep_calls=False):
        orig = module.forward

        def forward(*args, **kwargs):
            self.nfe += 1
            out = orig(*args, **kwargs)
            if keep_calls:
                ids = args[0] if args else kwargs["input_ids"]
                self.calls.append((ids.clone(), out.logits.detach().clone()))
            return out

        module.forward = forward
        return orig


def top2_margin(probs):
    t = probs.topk(2, dim=-1).values
    return (t[..., 0] - t[..., 1])


REC = Recorder()


def instrument_fast():
    orig = fast_gen.get_transfer_index

    def get_transfer_index(logits, temperature, remasking, mask_index, x, num_transfer_tokens, threshold=None):
        x0, transfer_index = orig(logits, temperature, remasking, mask_index, x, num_transfer_tokens, threshold)
        p = F.softmax(logits.to(torch.float64), dim=-1)
        REC.margins += top2_margin(p)[transfer_index].tolist()
        # A block finished by its first (full) forward still gets one cached call that
        # commits nothing; zoo skips it, so its forward count is nfe - idle_nfe.
        if not (transfer_index & mask_index).any():
            REC.idle += 1
        conf = p.max(-1).values
        if threshold is not None:
            REC.thr_gaps += (conf[mask_index] - threshold).abs().tolist()
        assert not (x0[transfer_index] == MASK).any(), "Fast-dLLM committed the mask id"
        return x0, transfer_index

    fast_gen.get_transfer_index = get_transfer_index


def gsai_margins(prompt_len, gen_length, block_length, steps, cfg_scale, final):
    """Replays the recorded forwards of ML-GSAI generate(): positions committed at call k are
    the masks of call k's input that are filled in call k+1's input (or in the final x)."""
    steps_per_block = steps // (gen_length // block_length)
    for k, (ids, logits) in enumerate(REC.calls):
        x_k = ids[:1]
        x_next = REC.calls[k + 1][0][:1] if k + 1 < len(REC.calls) else final
        if cfg_scale > 0.0:
            lg, un = torch.chunk(logits, 2, dim=0)
            logits = un + (cfg_scale + 1) * (lg - un)
        p = F.softmax(logits, dim=-1)[0]
        conf = p.max(-1).values
        block_end = prompt_len + (k // steps_per_block + 1) * block_length
        cand = (x_k[0] == MASK)
        cand[block_end:] = False
        committed = cand & (x_next[0] != MASK)
        REC.margins += top2_margin(p)[committed].tolist()
        rest = cand & ~committed
        if committed.any() and rest.any():
            REC.rank_gaps.append((conf[committed].min() - conf[rest].max()).item())


def instrument_dcd(dcd):
    orig_sample, orig_pick = dcd.sample_tokens, dcd.get_decode_conf_and_indices
    state = {}

    def sample_tokens(logits, *a, **kw):
        state["logits"] = logits
        return orig_sample(logits, *a, **kw)

    def get_decode_conf_and_indices(confidence, candidates, num_decode):
        conf, ind = orig_pick(confidence, candidates, num_decode)
        p = torch.softmax(state["logits"], dim=-1)[0]
        REC.margins += top2_margin(p)[ind[0]].tolist()
        REC.thr_gaps += (confidence[0][candidates[0]] - state["threshold"]).abs().tolist()
        return conf, ind

    dcd.sample_tokens = sample_tokens
    dcd.get_decode_conf_and_indices = get_decode_conf_and_indices
    return state


def instrument_window_diffusion(wd):
    """Window-Diffusion's generate() never calls model.forward: it runs the transformer's modules
    itself through the module-level llada_forward_full / llada_forward_prune, so those two are
    wrapped (generate looks them up as module globals at call time). Each call snapshots the
    sequence x of generate() before the forward; the positions committed by call k are the
    masks of snapshot k that are filled in snapshot k+1 (or in the returned x)."""
    orig_full, orig_prune = wd.llada_forward_full, wd.llada_forward_prune
    st = {"x": None, "steps": [], "pruned": 0, "outside": 0}

    def full(tr, cfg, blocks, x, cache_mgr):
        assert x.shape[0] == 1, "fixture runs cfg_scale=0 only"
        st["x"] = x                       # with cfg_scale == 0 this is generate()'s own x
        REC.nfe += 1
        logits = orig_full(tr, cfg, blocks, x, cache_mgr)
        st["steps"].append(("full", x.clone(), None, None, logits.detach().clone()))
        return logits

    def prune(tr, cfg, blocks, pos_embed, x, cache_mgr, plan):
        REC.nfe += 1
        st["pruned"] += 1
        outside = ~torch.isin(plan.active_idx, plan.window_idx)
        st["outside"] += int(outside.sum())
        logits = orig_prune(tr, cfg, blocks, pos_embed, x, cache_mgr, plan)
        st["steps"].append(("prune", st["x"].clone(), plan.active_idx.clone(), plan.window_idx.clone(),
                            logits.detach().clone()))
        return logits

    wd.llada_forward_full, wd.llada_forward_prune = full, prune

    def finish(final, num_transfer):
        """Margins from the recorded calls; asserts that each step committed exactly
        num_transfer[i] masks and changed no other position."""
        for k, (kind, x_k, active, window, logits) in enumerate(st["steps"]):
            x_next = st["steps"][k + 1][1] if k + 1 < len(st["steps"]) else final
            changed = (x_k[0] != x_next[0])
            assert not (changed & (x_k[0] != MASK)).any(), "a committed token was overwritten"
            committed_pos = (changed & (x_k[0] == MASK)).nonzero(as_tuple=True)[0]
            assert committed_pos.numel() == int(num_transfer[k]), (k, committed_pos, num_transfer[k])
            if kind == "full":
                rows = torch.arange(x_k.shape[1])
            else:
                rows = active
            p = F.softmax(logits[0], dim=-1)     # official: softmax in the logits' dtype (float32)
            conf = p.max(-1).values
            cand = (x_k[0, rows] == MASK)
            com = torch.isin(rows, committed_pos)
            assert not (com & ~cand).any()
            REC.margins += top2_margin(p)[com].tolist()
            rest = cand & ~com
            if com.any() and rest.any():
                REC.rank_gaps.append((conf[com].min() - conf[rest].max()).item())
        out = {"pruned_nfe": st["pruned"], "active_outside_window": st["outside"]}
        st.update(x=None, steps=[], pruned=0, outside=0)
        return out

    return finish


def summary(xs):
    return None if not xs else float(min(xs))


# ---------------------------------------------------------------- main
def main():
    from safetensors.torch import save_file

    os.makedirs(OUT, exist_ok=True)
    model, gen = build_model()
    model.save_pretrained(OUT, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(OUT, extra)):
            os.remove(os.path.join(OUT, extra))

    # 1. logits of one bidirectional forward
    input_ids = torch.randint(0, 64, (1, 20), generator=gen)
    input_ids[0, [3, 8, 9, 15]] = MASK
    with torch.no_grad():
        logits = model(input_ids).logits.float()
    save_file({"input_ids": input_ids.contiguous(), "logits": logits.contiguous()},
              os.path.join(OUT, "expected.safetensors"))

    # 2. decodes with the official samplers
    pg = torch.Generator().manual_seed(PROMPT_SEED)
    prompts = [torch.randint(0, 62, (1, n), generator=pg) for n in (6, 9)]
    cases = []

    def add(name, decoder, options, prompt, gen_length, out_ids, official, extra=None):
        exp = out_ids[0, prompt.shape[1]:].tolist()
        assert len(exp) == gen_length and MASK not in exp, (name, exp)
        case = {"name": name, "decoder": decoder, "options": {k: str(v) for k, v in options.items()},
                "max_tokens": gen_length, "prompt": prompt[0].tolist(), "expected": exp,
                "official": official, "nfe": REC.nfe, "idle_nfe": REC.idle}
        if extra:
            case.update(extra)
        if REC.margins:
            case["min_margin"] = round(summary(REC.margins), 6)
        if REC.thr_gaps:
            case["min_threshold_gap"] = round(summary(REC.thr_gaps), 6)
        if REC.rank_gaps:
            case["min_rank_gap"] = round(summary(REC.rank_gaps), 6)
        cases.append(case)
        print(f"{name:28s} nfe={REC.nfe:3d} margin={case.get('min_margin')} "
              f"thr_gap={case.get('min_threshold_gap')} rank_gap={case.get('min_rank_gap')} "
              f"eos={EOS in exp} {exp}")

    # 2a. ML-GSAI/LLaDA generate.py
    orig = REC.wrap(model, keep_calls=True)
    for (pi, gl, steps, bl, cfg) in [(0, 16, 16, 16, 0.0), (1, 16, 8, 8, 0.0), (0, 24, 24, 8, 0.0),
                                      (1, 16, 16, 8, 1.0)]:
        prompt = prompts[pi]
        REC.reset()
        # generate() reads attention_mask_ only when attention_mask is given, so CFG needs an
        # (all-ones, hence ignored by the model) attention mask; without CFG we pass None.
        am = torch.ones_like(prompt) if cfg > 0 else None
        out = gsai_gen.generate(model, prompt, attention_mask=am, steps=steps, gen_length=gl,
                                block_length=bl, temperature=0.0, cfg_scale=cfg,
                                remasking="low_confidence", mask_id=MASK)
        gsai_margins(prompt.shape[1], gl, bl, steps, cfg, out[:1])
        am_s = "torch.ones_like(prompt)" if cfg > 0 else "None"
        add(f"llada-p{pi}-g{gl}-s{steps}-b{bl}" + ("-cfg1" if cfg else ""), "llada",
            {"steps": steps, "block_length": bl, "remasking": "low_confidence", "cfg_scale": cfg},
            prompt, gl, out,
            f"generate(model, prompt, attention_mask={am_s}, steps={steps}, gen_length={gl}, "
            f"block_length={bl}, temperature=0.0, cfg_scale={cfg}, remasking='low_confidence', "
            f"mask_id=63)  # ML-GSAI/LLaDA generate.py")
    model.forward = orig

    # 2b. Fast-dLLM llada/generate.py
    instrument_fast()
    orig = REC.wrap(model)
    fns = {"none": ("generate", fast_gen.generate), "prefix": ("generate_with_prefix_cache", fast_gen.generate_with_prefix_cache),
           "dual": ("generate_with_dual_cache", fast_gen.generate_with_dual_cache)}
    for (pi, gl, thr) in [(0, 16, 0.9), (1, 24, 0.7)]:
        for cache, (fname, fn) in fns.items():
            prompt = prompts[pi]
            REC.reset()
            out, nfe = fn(model, prompt, steps=gl, gen_length=gl, block_length=8, temperature=0.0,
                          remasking="low_confidence", mask_id=MASK, threshold=thr)
            assert nfe == REC.nfe, (nfe, REC.nfe)
            add(f"fast-dllm-p{pi}-g{gl}-t{thr}-{cache}", "fast-dllm",
                {"threshold": thr, "block_length": 8, "cache": cache}, prompt, gl, out,
                f"{fname}(model, prompt, steps={gl}, gen_length={gl}, block_length=8, temperature=0.0, "
                f"remasking='low_confidence', mask_id=63, threshold={thr})  # Fast-dLLM llada/generate.py")
    model.forward = orig

    # 2c. DCD decode_algorithm.py (window_bidirectional_decode) with DCD's own Llada wrapper
    sys.path.insert(0, DCD)
    dcd = load_module("dcd_decode_algorithm", os.path.join(DCD, "decode_algorithm.py"))
    import dllm_model
    from safetensors.torch import load_file
    llada = dllm_model.Llada(model_path=OUT)            # official constructor: loads bfloat16 ...
    llada.model = llada.model.float()                   # ... so switch to float32 and reload the
    llada.model.load_state_dict(load_file(os.path.join(OUT, "model.safetensors")))  # exact weights
    llada.model.eval()
    state = instrument_dcd(dcd)
    REC.wrap(llada.model)
    for (pi, gl, s_init, s_max, thr, cache, refresh) in [
            (0, 16, 4, 8, 0.9, "none", 4), (0, 16, 4, 8, 0.9, "prefix", 4), (0, 16, 4, 8, 0.9, "dual", 4),
            (1, 24, 8, 12, 0.9, "dual-delay2", 8), (1, 24, 8, 12, 0.7, "prefix-delay2", 8)]:
        prompt = prompts[pi]
        REC.reset()
        state["threshold"] = thr
        cfg = dcd.DecodeConfig(window_type="sliding", generate_length=gl, initial_window_length=s_init,
                               temperature=0.0, decode_algo="threshold", decode_param=thr,
                               max_window_length=s_max, cache_type=cache, refresh_count=refresh,
                               mask_id=MASK, pad_id=EOS, eos_id=EOS)
        with torch.no_grad():
            out, _ = dcd.window_bidirectional_decode(llada, prompt.clone(), cfg)
        add(f"dcd-p{pi}-g{gl}-w{s_init}-{s_max}-t{thr}-{cache}", "dcd",
            {"s_init": s_init, "s_max": s_max, "threshold": thr, "cache": cache, "refresh_count": refresh},
            prompt, gl, out,
            f"window_bidirectional_decode(Llada(...), prompt, DecodeConfig(window_type='sliding', "
            f"generate_length={gl}, initial_window_length={s_init}, max_window_length={s_max}, "
            f"temperature=0.0, decode_algo='threshold', decode_param={thr}, cache_type='{cache}', "
            f"refresh_count={refresh}, mask_id=63, pad_id=62, eos_id=62))  # DCD decode_algorithm.py")

    # 2d. Window-Diffusion llada/model/modeling_llada.py (generate). The repository ships no LLaDA
    # model class: its demo/eval load the checkpoint with AutoModel.from_pretrained(...,
    # trust_remote_code=True), i.e. the HF hub's LLaDA modeling code, whose submodules
    # (model.model.transformer.{wte,blocks[i].{attn_norm,q_proj,...,rotary_emb},ln_f,ff_out})
    # generate() drives directly. The same class as above (Fast-dLLM's copy of that code) is
    # loaded from the saved folder in float32 on CPU.
    wd = load_module("window_diffusion_llada", os.path.join(WINDIFF, "llada", "model", "modeling_llada.py"))
    from safetensors.torch import load_file
    wd_model = LLaDAModelLM.from_pretrained(OUT, torch_dtype=torch.float32).float().eval()
    sd = load_file(os.path.join(OUT, "model.safetensors"))
    wd_model.load_state_dict(sd)
    assert all(torch.equal(wd_model.state_dict()[k], v) for k, v in sd.items())
    wd_tr = wd_model.model.transformer
    with torch.no_grad():        # Window-Diffusion's own full forward (block_forward_full) vs expected
        wd_logits = wd.llada_forward_full(wd_tr, wd_model.config, list(wd_tr.blocks), input_ids,
                                          wd.KVCacheManager())
    torch.testing.assert_close(wd_logits, logits, atol=1e-4, rtol=0)
    print(f"window-diffusion full forward vs expected logits: max abs diff {(wd_logits - logits).abs().max().item():.3g}")
    finish = instrument_window_diffusion(wd)
    # Robustness check only: the same decode with a float64 copy of the model must give the same
    # tokens (the model code still computes RoPE of the full forward in float32).
    wd_model64 = LLaDAModelLM.from_pretrained(OUT, torch_dtype=torch.float32).double().eval()
    wd_model64.load_state_dict(sd)
    for (pi, gl, steps, wt, at, rc) in [(0, 16, 16, 8, 4, 4), (1, 24, 24, 12, 4, 6), (0, 16, 16, 6, 2, 3),
                                         (1, 16, 8, 6, 4, 4), (0, 24, 12, 8, 2, 4), (1, 16, 16, 4, 4, 4)]:
        prompt = prompts[pi]
        ntt = wd.get_num_transfer_tokens(torch.ones(1, gl, dtype=torch.bool), steps)[0].tolist()
        out64 = wd.generate(wd_model64, prompt.clone(), steps=steps, gen_length=gl, temperature=0.0,
                            cfg_scale=0.0, remasking="low_confidence", mask_id=MASK,
                            window_tokens=wt, active_tokens=at, refresh_cycle=rc)
        finish(out64, ntt)
        REC.reset()
        out = wd.generate(wd_model, prompt.clone(), steps=steps, gen_length=gl, temperature=0.0,
                          cfg_scale=0.0, remasking="low_confidence", mask_id=MASK,
                          window_tokens=wt, active_tokens=at, refresh_cycle=rc)
        extra = finish(out, ntt)
        assert torch.equal(out, out64), "float64 rerun disagrees"
        assert REC.nfe == steps and extra["pruned_nfe"] == steps - (steps + rc - 1) // rc
        add(f"window-diffusion-p{pi}-g{gl}-s{steps}-w{wt}-a{at}-r{rc}", "window-diffusion",
            {"window_tokens": wt, "active_tokens": at, "refresh_cycle": rc, "steps": steps},
            prompt, gl, out,
            f"generate(model, prompt, steps={steps}, gen_length={gl}, temperature=0.0, cfg_scale=0.0, "
            f"remasking='low_confidence', mask_id=63, window_tokens={wt}, active_tokens={at}, "
            f"refresh_cycle={rc})  # Window-Diffusion llada/model/modeling_llada.py", extra)

    with open(os.path.join(OUT, "decodes.json"), "w") as f:
        json.dump({"mask_token_id": MASK, "eos_token_id": EOS, "cases": cases}, f, indent=1)
        f.write("\n")
    print(sorted(os.listdir(OUT)))


if __name__ == "__main__" and not os.environ.get("LLADA_TINY_PROBE"):
    main()

if __name__ == "__main__" and os.environ.get("LLADA_TINY_PROBE"):
    m, g = build_model()
    for n, p in sorted(m.named_parameters()):
        print(n, tuple(p.shape))
    ids = torch.randint(0, 64, (1, 20), generator=g)
    with torch.no_grad():
        lg = m(ids).logits
    pr = lg.softmax(-1).max(-1).values
    print("logit std", lg.std().item(), "max prob mean", pr.mean().item(), "frac>0.9", (pr > 0.9).float().mean().item())
    sys.exit(0)
