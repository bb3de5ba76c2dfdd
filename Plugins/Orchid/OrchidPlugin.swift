import ZooPluginKit

/// Orchid: the bidirectional operator as a layer kind, and `orchid`, a causal language
/// model of zoo's causal variant. Exported by `OrchidExport` (Export/).
public let orchidPlugin = PluginDefinition(
  name: "orchid",
  version: "0.1.0",
  description:
    "Orchid data-dependent global convolution: the published bidirectional operator, and a causal variant with a fixed-size state for generation.",
  source:
    "Karami & Ghodsi 2024, Orchid: Flexible and Data-Dependent Convolution for Sequence Modeling (NeurIPS 2024, arXiv 2402.18508); matches github.com/Karami-m/orchid 061f6df orchid_standalone/ (OrchidOperator, dxt 'fft', Type I conditioning)",
  layers: OrchidLayers.kinds,
  models: [OrchidLMBuilder.self])
