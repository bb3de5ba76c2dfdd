import ZooProto

/// The layers this plugin implements, for the plugin manifest's `layers`.
enum TransformerLayers {
  static let kinds: [Zoo_V1_LayerKind] = [gatedAttention, swigluMLP, bertEncoderLayer, rotaryEncoderLayer]

  /// Qwen3 attention with the optional attention-output gate.
  static let gatedAttention: Zoo_V1_LayerKind = .with {
    $0.name = "gated_attention"
    $0.description_p =
      "Grouped-query softmax attention with q/k RMSNorm and rotate-half RoPE (Qwen3), optionally followed by a sigmoid gate on each head's output before o_proj (Qiu et al. 2025, G1: headwise or elementwise; q_proj laid out per KV group as [queries | gate logits]). Keys and values cached by position."
    $0.capabilities = .growingCache(
      causality: .causal, decodeCost: "O(context) per token: 2·H·hd·t MACs over t cached tokens plus the projections",
      embeddings: false)
    $0.config = Qwen3Config.declaredFields.filter {
      [
        "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
        "attention_bias", "qkv_bias", "use_qk_norm", "headwise_attn_output_gate", "elementwise_attn_output_gate",
      ].contains($0.name)
    }
  }

  /// The SwiGLU MLP.
  static let swigluMLP: Zoo_V1_LayerKind = .with {
    $0.name = "swiglu_mlp"
    $0.description_p = "Bias-free SwiGLU MLP: down(SiLU(gate(x)) ⊙ up(x))."
    $0.capabilities = .with {
      $0.causality = .causal
      $0.stateGrowth = .none
      $0.decodeCost = "3·D·I MACs per token, independent of context"
    }
    $0.config = Qwen3Config.declaredFields.filter { ["hidden_size", "intermediate_size", "hidden_act"].contains($0.name) }
  }

  /// The BERT post-LayerNorm encoder layer.
  static let bertEncoderLayer: Zoo_V1_LayerKind = .with {
    $0.name = "bert_encoder_layer"
    $0.description_p =
      "BERT encoder layer (post-LayerNorm): multi-head self-attention with biases, dense + residual + LayerNorm, intermediate dense + exact erf GELU, dense + residual + LayerNorm. Keys and values cached by position."
    $0.capabilities = .growingCache(
      causality: .bidirectional, decodeCost: "O(context) per token: 2·D·t MACs over t cached tokens plus 4·D² + 2·D·I",
      embeddings: true)
    $0.config = BertConfig.declaredFields.filter {
      ["hidden_size", "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps"].contains($0.name)
    }
  }

  /// ILM's pre-LayerNorm encoder layer.
  static let rotaryEncoderLayer: Zoo_V1_LayerKind = .with {
    $0.name = "rotary_transformer_layer"
    $0.description_p =
      "ILM's RotaryTransformerLayer (pre-LayerNorm): fused bias-free q|k|v, rotate-half RoPE on the first rotary_emb_dim floats of each head at explicit positions, bidirectional attention, bias-free o_proj, ReLU MLP with biases. Keys and values cached by position."
    $0.capabilities = .growingCache(
      causality: .bidirectional, decodeCost: "4·D² + 2·D·F + 2·D·t MACs per token over t positions")
    $0.config = ILMConfig.declaredFields.filter {
      ["d_model", "nhead", "dim_feedforward", "activation", "layer_norm_eps", "rotary_emb_dim"].contains($0.name)
    }
  }
}
