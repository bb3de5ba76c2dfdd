// swift-tools-version:6.1
import PackageDescription

// Layout and contracts: see DESIGN.md in the shared folder and README.md.
// Plugins are dynamic library products (lib<Name>.so) that zood dlopens; everything
// they share with zood crosses the C ABI in Sources/CZooPlugin/include/zoo_plugin.h.

let grpc: [Target.Dependency] = [
  .product(name: "GRPCCore", package: "grpc-swift-2"),
  .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
  .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
]

let package = Package(
  name: "zoo",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "zood", targets: ["zood"]),
    .executable(name: "zoo", targets: ["zoo"]),
    .executable(name: "zoo-bench", targets: ["zoo-bench"]),
    .executable(name: "zoo-layer-bench", targets: ["zoo-layer-bench"]),
    // libFuzzer targets when built by scripts/fuzz (-sanitize=fuzzer,address -D ZOO_FUZZ);
    // a plain build makes an input replayer. See Tests/Fuzz/README.md.
    .executable(name: "zoo-fuzz", targets: ["zoo-fuzz"]),
    .library(name: "ZooPluginKit", targets: ["ZooPluginKit"]),
    // Plugins: one shared library each, loaded by zood at run time.
    // Every plugin keeps its `zoo_plugin_init` in an Export target, so tests and benchmarks
    // can link the model code of several plugins without two copies of the symbol.
    .library(name: "ZooStateSpace", type: .dynamic, targets: ["StateSpaceExport"]),
    .library(name: "ZooAutoregressive", type: .dynamic, targets: ["AutoregressiveExport"]),
    .library(name: "ZooDiffusion", type: .dynamic, targets: ["DiffusionExport"]),
    .library(name: "ZooInsertion", type: .dynamic, targets: ["InsertionExport"]),
    .library(name: "ZooTransformer", type: .dynamic, targets: ["TransformerExport"]),
    .library(name: "ZooSessa", type: .dynamic, targets: ["SessaExport"]),
    .library(name: "ZooGAM", type: .dynamic, targets: ["GAMExport"]),
    .library(name: "ZooOrchid", type: .dynamic, targets: ["OrchidExport"]),
    .library(name: "ZooToolGate", type: .dynamic, targets: ["ToolGateExport"]),
    // Test-only plugin: decoders and middleware that exercise the decoder contract.
    .library(name: "ZooContractFixtures", type: .dynamic, targets: ["ContractFixturesExport"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
    .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
  ],
  targets: [
    // The C ABI between zood and plugins. Header-only contract plus its small helpers.
    .target(name: "CZooPlugin"),
    .systemLibrary(name: "COpenBLAS"),
    .systemLibrary(name: "CFFTW"),
    // Products over 16-bit and 8-bit weights (no available library has them).
    .target(name: "CZooKernels"),

    // Generated from proto/ by scripts/gen-proto (committed). Messages only, so plugins
    // can build manifests without linking gRPC.
    .target(
      name: "ZooProto",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    // Generated gRPC service code for zoo.v1.Zoo and grpc.health.v1.Health.
    .target(name: "ZooRPC", dependencies: ["ZooProto"] + grpc),

    .target(name: "ZooCore", dependencies: ["COpenBLAS", "CZooKernels"]),
    // Where zood listens, for zood and its clients.
    .target(name: "ZooSocket"),
    // Both sides of the C ABI in Swift: the model handle, model info, tensor views and
    // errors. zood uses it to drive plugins; ZooPluginKit re-exports it to plugins.
    .target(name: "ZooABI", dependencies: ["CZooPlugin", "ZooCore"]),
    // What a Swift plugin author needs: protocols, the C thunks, shared builders.
    .target(
      name: "ZooPluginKit",
      dependencies: [
        "CZooPlugin", "ZooABI", "ZooCore", "ZooProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]),
    .target(
      name: "ZooDaemon",
      dependencies: [
        "CZooPlugin", "ZooABI", "ZooCore", "ZooProto", "ZooRPC", "ZooSocket",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ] + grpc),
    .executableTarget(
      name: "zood",
      dependencies: [
        "ZooDaemon", "ZooCore", "ZooSocket",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    .executableTarget(
      name: "zoo",
      dependencies: [
        "ZooCore", "ZooProto", "ZooRPC", "ZooSocket",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "MCP", package: "swift-sdk"),
        .product(name: "SystemPackage", package: "swift-system"),
      ] + grpc),
    .executableTarget(
      name: "zoo-bench",
      dependencies: [
        "ZooDaemon", "ZooABI", "ZooCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Prefill scaling of one layer per architecture, in-process. Links the plugin code
    // targets, never their Export targets (no zoo_plugin_init).
    .executableTarget(
      name: "zoo-layer-bench",
      dependencies: [
        "StateSpace", "Sessa", "GAM", "Orchid", "ZooPluginKit", "ZooCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // Fuzz targets over every parser of outside input (Tests/Fuzz/README.md). Links the
    // plugin code targets, never their Export targets.
    .executableTarget(
      name: "zoo-fuzz",
      dependencies: [
        "ZooCore", "ZooDaemon", "ZooPluginKit", "ZooProto", "StateSpace", "Transformer", "Sessa", "GAM", "Orchid",
        "Autoregressive", "Diffusion", "Insertion", "ToolGate",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]),

    // Plugins.
    .target(
      name: "StateSpace", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/StateSpace",
      exclude: ["README.md", "Export"]),
    .target(
      name: "StateSpaceExport", dependencies: ["StateSpace", "ZooPluginKit", "CZooPlugin"],
      path: "Plugins/StateSpace/Export"),
    .target(
      name: "Autoregressive", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Autoregressive",
      exclude: ["README.md", "Export"]),
    .target(
      name: "AutoregressiveExport", dependencies: ["Autoregressive", "ZooPluginKit", "CZooPlugin"],
      path: "Plugins/Autoregressive/Export"),
    .target(
      name: "Diffusion", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Diffusion",
      exclude: ["README.md", "Export"]),
    .target(
      name: "DiffusionExport", dependencies: ["Diffusion", "ZooPluginKit", "CZooPlugin"],
      path: "Plugins/Diffusion/Export"),
    .target(
      name: "Insertion", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Insertion",
      exclude: ["README.md", "Export"]),
    .target(
      name: "InsertionExport", dependencies: ["Insertion", "ZooPluginKit", "CZooPlugin"],
      path: "Plugins/Insertion/Export"),
    .target(
      name: "Transformer", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Transformer",
      exclude: ["README.md", "Export"]),
    .target(
      name: "TransformerExport", dependencies: ["Transformer", "ZooPluginKit", "CZooPlugin"],
      path: "Plugins/Transformer/Export"),
    .target(
      name: "Sessa", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Sessa", exclude: ["README.md", "Export"]),
    .target(name: "SessaExport", dependencies: ["Sessa", "ZooPluginKit", "CZooPlugin"], path: "Plugins/Sessa/Export"),
    .target(name: "GAM", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/GAM", exclude: ["README.md", "Export"]),
    .target(name: "GAMExport", dependencies: ["GAM", "ZooPluginKit", "CZooPlugin"], path: "Plugins/GAM/Export"),
    .target(
      name: "Orchid", dependencies: ["ZooPluginKit", "ZooCore", "CFFTW"], path: "Plugins/Orchid",
      exclude: ["README.md", "Export"]),
    .target(name: "OrchidExport", dependencies: ["Orchid", "ZooPluginKit", "CZooPlugin"], path: "Plugins/Orchid/Export"),
    .target(
      name: "ToolGate",
      dependencies: [
        "CZooPlugin", "ZooCore", "ZooPluginKit", "ZooProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Plugins/ToolGate", exclude: ["README.md", "Export"]),
    .target(name: "ToolGateExport", dependencies: ["ToolGate", "ZooPluginKit", "CZooPlugin"], path: "Plugins/ToolGate/Export"),

    .target(
      name: "ContractFixtures", dependencies: ["ZooPluginKit"], path: "Tests/Fixtures/contract-plugin",
      exclude: ["README.md", "Export"]),
    .target(
      name: "ContractFixturesExport", dependencies: ["ContractFixtures", "ZooPluginKit", "CZooPlugin"],
      path: "Tests/Fixtures/contract-plugin/Export"),

    // Tests, by level: unit (ZooCore, ZooDaemon), parity (StateSpace vs the official
    // fixtures), end to end (a real zood on a temporary socket).
    // Helpers the test targets share (fixtures, forward on Swift arrays, tolerances):
    // a plain target, since test targets cannot depend on one another.
    .target(name: "ZooTestSupport", dependencies: ["ZooCore", "ZooPluginKit"], path: "Tests/Support/ZooTestSupport"),
    .testTarget(name: "ZooCoreTests", dependencies: ["ZooCore", "ZooTestSupport"], path: "Tests/Unit/ZooCoreTests"),
    .testTarget(
      name: "ZooDaemonTests", dependencies: ["ZooDaemon", "ZooProto", "CZooPlugin"],
      path: "Tests/Unit/ZooDaemonTests"),
    .testTarget(name: "ToolGateTests", dependencies: ["ToolGate", "ZooProto"], path: "Tests/Unit/ToolGateTests"),
    .testTarget(
      name: "StateSpaceParityTests", dependencies: ["StateSpace", "ZooPluginKit", "ZooCore", "ZooTestSupport"],
      path: "Tests/Parity/StateSpaceParityTests"),
    // Transformer parity through the C ABI, on the plugin's .so as zood loads it; the
    // plugin target itself for what only an in-process load shows (the weights it reads).
    .testTarget(
      name: "TransformerParityTests",
      dependencies: [
        "Transformer", "ZooDaemon", "ZooPluginKit", "ZooCore", "ZooProto", "ZooTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Tests/Parity/TransformerParityTests"),
    .testTarget(
      name: "SessaParityTests", dependencies: ["Sessa", "ZooPluginKit", "ZooCore", "ZooProto", "ZooTestSupport"],
      path: "Tests/Parity/SessaParityTests"),
    .testTarget(
      name: "GAMParityTests", dependencies: ["GAM", "ZooPluginKit", "ZooCore", "ZooProto", "ZooTestSupport"],
      path: "Tests/Parity/GAMParityTests"),
    .testTarget(
      name: "OrchidParityTests", dependencies: ["Orchid", "ZooPluginKit", "ZooCore", "ZooProto", "ZooTestSupport"],
      path: "Tests/Parity/OrchidParityTests"),
    .testTarget(
      name: "EndToEndTests", dependencies: ["ZooProto", "ZooRPC", "ZooCore", "ZooSocket", "ZooTestSupport"] + grpc,
      path: "Tests/EndToEnd/EndToEndTests"),
  ]
)
