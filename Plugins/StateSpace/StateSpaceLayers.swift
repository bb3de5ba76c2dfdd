import ZooProto

/// The sequence layers this plugin implements, for the plugin manifest's `layers`.
public enum StateSpaceLayers {
  /// `mamba1_mixer` and `mamba2_mixer`.
  public static let kinds: [Zoo_V1_LayerKind] = [mamba1Mixer, mamba2Mixer]

  /// The Mamba-1 selective-scan mixer.
  public static let mamba1Mixer: Zoo_V1_LayerKind = .layer(
    "mamba1_mixer",
    description:
      "Mamba-1 selective state-space mixer (Gu & Dao 2023): in_proj [x|z], causal depthwise conv + SiLU, x_proj [dt|B|C], input-dependent Δ, per-channel diagonal A, selective scan, SiLU(z) gate, out_proj.",
    capabilities: .recurrent(
      decodeCost: "O(1) in context length: one recurrent step, ≈ 3·E·D² + E·D·(2R + 2N + K) MACs and E·D·N exps"),
    config: MambaConfig.declaredFields.filter { mixerKeys.contains($0.name) })

  /// The Mamba-2 (SSD) mixer.
  public static let mamba2Mixer: Zoo_V1_LayerKind = .layer(
    "mamba2_mixer",
    description:
      "Mamba-2 state-space-duality mixer (Dao & Gu 2024): in_proj [z|xBC|dt], causal depthwise conv + SiLU over xBC, per-head scalar A, grouped B/C, gated RMSNorm, out_proj.",
    capabilities: .recurrent(
      decodeCost: "O(1) in context length: one recurrent step, ≈ D·(2E·D + 2G·N + H) + E·D² + 3·E·D·N MACs"),
    config: Mamba2Config.declaredFields.filter { mixerKeys.contains($0.name) })

  /// Config keys that shape a mixer (the rest belong to the surrounding model).
  private static let mixerKeys: Set<String> = [
    "hidden_size", "state_size", "expand", "conv_kernel", "use_bias", "use_conv_bias", "hidden_act",
    "time_step_rank", "num_heads", "head_dim", "n_groups", "time_step_limit", "layer_norm_epsilon",
  ]
}
