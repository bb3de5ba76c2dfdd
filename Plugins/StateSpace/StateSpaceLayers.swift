import ZooProto

/// The sequence layers this plugin implements, for the plugin manifest's `layers`.
public enum StateSpaceLayers {
  /// `mamba1_mixer` and `mamba2_mixer`.
  public static let kinds: [Zoo_V1_LayerKind] = [mamba1Mixer, mamba2Mixer]

  /// The Mamba-1 selective-scan mixer.
  public static let mamba1Mixer: Zoo_V1_LayerKind = {
    var kind = Zoo_V1_LayerKind()
    kind.name = "mamba1_mixer"
    kind.description_p =
      "Mamba-1 selective state-space mixer (Gu & Dao 2023): in_proj [x|z], causal depthwise conv + SiLU, x_proj [dt|B|C], input-dependent Δ, per-channel diagonal A, selective scan, SiLU(z) gate, out_proj."
    kind.capabilities = recurrentCapabilities(
      decodeCost: "O(1) in context length: one recurrent step, ≈ 3·E·D² + E·D·(2R + 2N + K) MACs and E·D·N exps")
    kind.config = MambaConfig.declaredFields.filter { mixerKeys.contains($0.name) }
    return kind
  }()

  /// The Mamba-2 (SSD) mixer.
  public static let mamba2Mixer: Zoo_V1_LayerKind = {
    var kind = Zoo_V1_LayerKind()
    kind.name = "mamba2_mixer"
    kind.description_p =
      "Mamba-2 state-space-duality mixer (Dao & Gu 2024): in_proj [z|xBC|dt], causal depthwise conv + SiLU over xBC, per-head scalar A, grouped B/C, gated RMSNorm, out_proj."
    kind.capabilities = recurrentCapabilities(
      decodeCost: "O(1) in context length: one recurrent step, ≈ D·(2E·D + 2G·N + H) + E·D² + 3·E·D·N MACs")
    kind.config = Mamba2Config.declaredFields.filter { mixerKeys.contains($0.name) }
    return kind
  }()

  /// Config keys that shape a mixer (the rest belong to the surrounding model).
  private static let mixerKeys: Set<String> = [
    "hidden_size", "state_size", "expand", "conv_kernel", "use_bias", "use_conv_bias", "hidden_act",
    "time_step_rank", "num_heads", "head_dim", "n_groups", "time_step_limit", "layer_norm_epsilon",
  ]

  /// What a recurrent state-space layer or model can do: causal, a constant-cost step,
  /// a fixed-size state that can be copied but not truncated.
  static func recurrentCapabilities(decodeCost: String) -> Zoo_V1_Capabilities {
    var c = Zoo_V1_Capabilities()
    c.causality = .causal
    c.recurrentStep = true
    c.stateGrowth = .fixed
    c.decodeCost = decodeCost
    c.stopHead = false
    c.embeddings = false
    c.stateCopy = true
    c.stateTruncate = false
    return c
  }
}
