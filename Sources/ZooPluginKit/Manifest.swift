import ZooProto

// Builders of the manifest entries every plugin writes, so each entry is one call that
// names its parts.

extension Zoo_V1_ModelType {
  /// A model type's manifest entry: what `ModelBuilder.declaration` returns.
  public static func model(
    _ modelType: String, description: String, layers: [String], capabilities: Zoo_V1_Capabilities,
    config: [Zoo_V1_ConfigField], weights: [String]
  ) -> Self {
    .with {
      $0.modelType = modelType
      $0.description_p = description
      $0.layers = layers
      $0.capabilities = capabilities
      $0.config = config
      $0.weights = weights
    }
  }
}

extension Zoo_V1_LayerKind {
  /// A layer kind's manifest entry.
  public static func layer(
    _ name: String, description: String, capabilities: Zoo_V1_Capabilities, config: [Zoo_V1_ConfigField]
  ) -> Self {
    .with {
      $0.name = name
      $0.description_p = description
      $0.capabilities = capabilities
      $0.config = config
    }
  }
}

extension Zoo_V1_ConfigField {
  /// A manifest entry for an optional config key: its type, its default as JSON text
  /// (`"1e-05"`, `"\"silu\""`, `"null"`) and what it does.
  /// `minimum` and `maximum` bound a number option (zood refuses values outside them);
  /// `allowed` lists a string option's values.
  public static func field(
    _ name: String, _ type: Zoo_V1_FieldType, _ defaultJSON: String, _ description: String,
    minimum: Double? = nil, maximum: Double? = nil, allowed: [String] = []
  ) -> Self {
    .with {
      $0.name = name
      $0.type = type
      $0.defaultJson = defaultJSON
      $0.required = false
      $0.description_p = description
      if let minimum { $0.minimum = jsonNumber(minimum) }
      if let maximum { $0.maximum = jsonNumber(maximum) }
      $0.allowed = allowed
    }
  }

  /// A bound as a JSON number: integral values without a fraction.
  private static func jsonNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
  }

  /// A manifest entry for a config key that must be present (it has no default).
  public static func required(_ name: String, _ type: Zoo_V1_FieldType, _ description: String) -> Self {
    .with {
      $0.name = name
      $0.type = type
      $0.required = true
      $0.description_p = description
    }
  }
}

extension Zoo_V1_Capabilities {
  /// A causal layer or model with a constant-cost step over a fixed-size state that can
  /// be copied but not truncated (it summarises the whole prefix): Mamba, GAM, causal
  /// Orchid.
  public static func recurrent(decodeCost: String) -> Self {
    .with {
      $0.causality = .causal
      $0.recurrentStep = true
      $0.stateGrowth = .fixed
      $0.decodeCost = decodeCost
      $0.stopHead = false
      $0.embeddings = false
      $0.stateCopy = true
      $0.stateTruncate = false
    }
  }

  /// A layer or model over a cache that grows per token and can be copied and truncated
  /// exactly, with no constant-size step: attention, Sessa.
  public static func growingCache(causality: Zoo_V1_Causality, decodeCost: String, embeddings: Bool = false) -> Self {
    .with {
      $0.causality = causality
      $0.recurrentStep = false
      $0.stateGrowth = .perToken
      $0.decodeCost = decodeCost
      $0.stopHead = false
      $0.embeddings = embeddings
      $0.stateCopy = true
      $0.stateTruncate = true
    }
  }
}
