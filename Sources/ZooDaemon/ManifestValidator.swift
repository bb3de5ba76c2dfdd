import ZooProto

/// Checks a plugin's manifest before zood serves anything from it. Every problem is a
/// sentence naming the field, so a plugin author can fix it from `zoo plugins`.
package enum ManifestValidator {
  package static func problems(in m: Zoo_V1_PluginManifest, tableMajor: UInt16, tableMinor: UInt16) -> [String] {
    var out: [String] = []
    if !isIdentifier(m.name) { out.append("manifest name '\(m.name)' must be 1-64 characters of [a-z0-9_-]") }
    if m.version.isEmpty { out.append("manifest version is empty") }
    if m.abiMajor != tableMajor || m.abiMinor != tableMinor {
      out.append("manifest ABI \(m.abiMajor).\(m.abiMinor) differs from the plugin table's \(tableMajor).\(tableMinor)")
    }
    if m.layers.isEmpty && m.modelTypes.isEmpty && m.decoders.isEmpty && m.middleware.isEmpty {
      out.append("manifest declares no layers, model types, decoders or middleware")
    }
    out += duplicates(m.layers.map(\.name), "layer")
    out += duplicates(m.modelTypes.map(\.modelType), "model type")
    out += duplicates(m.decoders.map(\.name), "decoder")
    out += duplicates(m.middleware.map(\.name), "middleware")
    for l in m.layers where !isIdentifier(l.name) { out.append("layer name '\(l.name)' must be [a-z0-9_-]") }
    let layerNames = Set(m.layers.map(\.name))
    for t in m.modelTypes {
      if !isIdentifier(t.modelType) { out.append("model type '\(t.modelType)' must be 1-64 characters of [a-z0-9_-]") }
      if t.capabilities.causality == .unspecified { out.append("model type '\(t.modelType)' does not state its causality") }
      if t.capabilities.stateGrowth == .unspecified { out.append("model type '\(t.modelType)' does not state how its state grows") }
      for l in t.layers where !layerNames.contains(l) {
        out.append("model type '\(t.modelType)' uses layer '\(l)' which the manifest does not declare")
      }
      out += fieldProblems(t.config, owner: "model type '\(t.modelType)'")
    }
    for d in m.decoders {
      if !isIdentifier(d.name) { out.append("decoder name '\(d.name)' must be 1-64 characters of [a-z0-9_-]") }
      out += fieldProblems(d.options, owner: "decoder '\(d.name)'")
      out += defaultProblems(d.options, owner: "decoder '\(d.name)'")
      if d.fillsGaps && tableMinor < 4 {
        out.append("decoder '\(d.name)' fills gaps, which needs ABI 1.4 (zoo_decode_args.gaps); the plugin is built for 1.\(tableMinor)")
      }
    }
    for w in m.middleware {
      if !isIdentifier(w.name) { out.append("middleware name '\(w.name)' must be 1-64 characters of [a-z0-9_-]") }
      out += fieldProblems(w.config, owner: "middleware '\(w.name)'")
      out += defaultProblems(w.config, owner: "middleware '\(w.name)'")
      out += duplicates(w.rpcs, "middleware '\(w.name)' RPC")
      for rpc in w.rpcs where !MiddlewareRPC.all.contains(rpc) {
        out.append("middleware '\(w.name)' lists RPC '\(rpc)'; a middleware may serve \(MiddlewareRPC.all.sorted().joined(separator: ", "))")
      }
      if !w.rpcs.isEmpty && tableMinor < 5 {
        out.append("middleware '\(w.name)' serves RPCs, which needs ABI 1.5 (zoo_middleware_api.call); the plugin is built for 1.\(tableMinor)")
      }
    }
    for l in m.layers { out += fieldProblems(l.config, owner: "layer '\(l.name)'") }
    return out
  }

  private static func fieldProblems(_ fields: [Zoo_V1_ConfigField], owner: String) -> [String] {
    var out = duplicates(fields.map(\.name), "\(owner) config field")
    for f in fields {
      if f.name.isEmpty { out.append("\(owner) has a config field without a name") }
      if f.type == .unspecified { out.append("\(owner) config field '\(f.name)' has no type") }
      if !f.required && f.defaultJson.isEmpty { out.append("\(owner) config field '\(f.name)' is optional but has no default") }
      for (bound, text) in [("minimum", f.minimum), ("maximum", f.maximum)] where !text.isEmpty && Double(text) == nil {
        out.append("\(owner) config field '\(f.name)' has a \(bound) '\(text)' that is not a number")
      }
      if !f.allowed.isEmpty && f.type != .string {
        out.append("\(owner) config field '\(f.name)' lists allowed values but is not a string")
      }
    }
    return out
  }

  /// Options reach decoders and middleware filled with their defaults, so each default
  /// must pass the same checks a client's value does.
  private static func defaultProblems(_ fields: [Zoo_V1_ConfigField], owner: String) -> [String] {
    let optional = fields.filter { !$0.required && !$0.defaultJson.isEmpty }
    do {
      let defaults = try RequestValidation.checkedOptions([:], declared: optional, owner: owner)
      _ = try RequestValidation.checkedOptions(defaults, declared: optional, owner: owner)
      return []
    } catch let e as ZooError {
      return ["the default of \(e.message)"]
    } catch {
      return ["\(owner): \(error)"]
    }
  }

  private static func duplicates(_ names: [String], _ what: String) -> [String] {
    var seen = Set<String>()
    var out: [String] = []
    for n in names where !seen.insert(n).inserted { out.append("\(what) '\(n)' is declared twice") }
    return out
  }

  static func isIdentifier(_ s: String) -> Bool {
    !s.isEmpty && s.count <= 64
      && s.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }
  }
}
