import ZooProto

/// The layer kinds this plugin declares in its manifest.
public enum OrchidLayers {
  /// `orchid_operator` and `orchid_causal_operator`.
  public static let kinds: [Zoo_V1_LayerKind] = [bidirectionalOperator, causalOperator]

  /// The published operator, bidirectional, for encoders and diffusion backbones.
  public static let bidirectionalOperator: Zoo_V1_LayerKind = .layer(
    "orchid_operator",
    description:
      "Orchid data-dependent global convolution (Karami & Ghodsi 2024) as the official OrchidOperator computes it: in_linear [x0|x1|v], causal short conv, Type I conditioning (time conv + LayerNorm, power spectrum, frequency conv + LayerNorm) on v before the short conv, static implicit filters, order-2 gating x0 ⊙ ((k + ĥ) ⊛ (x1 ⊙ v) + d ⊙ x1 ⊙ v), residual long convolution of the input, out_linear. Every convolution is a length-L circular FFT convolution scaled 1/L (FFTW, float32): every position sees the whole sequence. Weights under the official names: "
      + weightNames.joined(separator: ", ") + ".",
    capabilities: .with {
      $0.causality = .bidirectional
      $0.recurrentStep = false
      $0.stateGrowth = .none
      $0.decodeCost =
        "No token-by-token form: a call runs the whole sequence, ≈ 4·L·D² MACs for the projections plus 7 real FFTs of length L over D channels (with causal = true the conditioning's forward and one inverse are 2L long), O(L log L · D)"
    },
    config: OrchidOperatorConfig.declaredFields)

  /// zoo's causal variant, for generation.
  public static let causalOperator: Zoo_V1_LayerKind = .layer(
    "orchid_causal_operator",
    description:
      "zoo's causal variant of the Orchid operator (the paper leaves causal models as future work): the same weights and names, with zero-padded linear convolutions, a left-padded conditioning time conv, and the kernel of position t conditioned on the prefix 0...t only, through the official time-domain conditioning path on a fixed 2·l_max grid. Sequences of at most l_max tokens. Prefix DFTs make it recurrent: state per sequence (short_filter_order·3D + conv_filter_size·D + 6·(l_max + 1)·D) floats, fixed.",
    capabilities: .recurrent(
      decodeCost:
        "O(l_max·D) at every position: ≈ 4·D² MACs for the projections plus about 60·(l_max + 1)·D flops for three running DFT updates, the conditioning network over l_max + 1 bins and two spectral sums; no re-run of the prefix"),
    config: OrchidOperatorConfig.declaredFields.filter { $0.name != "causal" })

  /// The operator's weight names (official), relative to its prefix.
  static let weightNames: [String] = [
    "in_linear.weight", "in_linear.bias", "out_linear.weight", "out_linear.bias", "conv1d_short.weight",
    "conv1d_short.bias",
  ]
    + ["fixed_conv.", "fixed_conv_res."].flatMap { f in
      [
        "bias", "pos_emb.z", "pos_emb.t", "modulation.deltas", "implicit_filter.{0,2,4,...}.weight",
        "implicit_filter.{0,2,4,...}.bias", "implicit_filter.{1,3,5,...}.freq", "implicit_filter.{last}.weight",
      ].map { f + $0 }
    }
    + ["nn_model", "nn_model2"].flatMap { m in
      ["conv1d_ls.0.weight", "conv1d_ls.0.bias", "norm_ls.0.norm_conv_kernel.weight", "norm_ls.0.norm_conv_kernel.bias"]
        .map { "conv_kernel_nn.\(m).\($0)" }
    }
}
