import ZooPluginKit
import ZooProto

/// The Sessa plugin: the layer of Horbatko 2026 (LibratioAI/sessa) and zoo's Sessa
/// language model (model_type `sessa`). Exported as `zoo_plugin_init` by the
/// `SessaExport` target.
public let sessaPlugin = PluginDefinition(
  name: "sessa",
  version: "0.1.0",
  description:
    "Sessa (Selective State Space Attention): causal attention plus attention inside a feedback path solved as a triangular system; streaming decode over a growing cache.",
  source:
    "Horbatko 2026, arXiv 2604.18580; matches github.com/LibratioAI/sessa @ 72180050722b (sessa/layer.py, sessa/mixer.py)",
  layers: [SessaLayers.layer],
  models: [SessaBuilder.self])

/// The manifest's layer kind and the official weight names of one layer.
public enum SessaLayers {
  /// `sessa_layer`: the official `SessaLayer`, under its constructor's argument names.
  /// Its capabilities are a growing cache's, not `.recurrent`: the feedback is a
  /// recurrence, but each step reads the whole cache (O(t)), so it is not a constant-size
  /// recurrent step.
  public static let layer: Zoo_V1_LayerKind = .layer(
    "sessa_layer",
    description:
      "Sessa layer (LibratioAI/sessa SessaLayer): LayerNorm, W_in → [a | g], ā = GELU(a); mixer: GQA causal attention with interleaved-pair RoPE (f), strictly causal single-head feedback attention α, γ_t = gamma_max·tanh(gamma_bias + ā_t·w), s solving (I − γα) s = f (unit lower-triangular, strsm); y = x + W_out(s ⊙ g). Cache per position: k_f, v_f, k_b, s.",
    capabilities: .growingCache(
      causality: .causal,
      decodeCost:
        "O(t) per token over t cached tokens, no re-run: ≈ 6·D² + 2·D·n_kv_heads·d (+ D² out_proj when n_heads > 1) MACs for the projections plus 4·t·D for the two attentions"),
    config: SessaLayerConfig.declaredFields)

  /// The official state_dict names of one SessaLayer (the boolean mask buffers
  /// `mixer.causal_mask_*_full` are not read; `mixer.rope_inv_freq` is optional).
  static let weightNames = [
    "ln.weight", "ln.bias", "W_in.weight", "W_in.bias",
    "mixer.q_proj.weight", "mixer.q_proj.bias", "mixer.k_proj.weight", "mixer.k_proj.bias",
    "mixer.v_proj.weight", "mixer.v_proj.bias", "mixer.proj_fb.weight", "mixer.proj_fb.bias",
    "mixer.out_proj.weight", "mixer.gamma_bias", "mixer.gamma_ctx.weight", "mixer.rope_inv_freq",
    "W_out.weight", "W_out.bias",
  ]
}
