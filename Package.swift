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
    .library(name: "ZooPluginKit", targets: ["ZooPluginKit"]),
    // Plugins: one shared library each, loaded by zood at run time.
    .library(name: "ZooStateSpace", type: .dynamic, targets: ["StateSpace"]),
    .library(name: "ZooAutoregressive", type: .dynamic, targets: ["Autoregressive"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
  ],
  targets: [
    // The C ABI between zood and plugins. Header-only contract plus its small helpers.
    .target(name: "CZooPlugin"),
    .systemLibrary(name: "COpenBLAS"),

    // Generated from proto/ by scripts/gen-proto (committed). Messages only, so plugins
    // can build manifests without linking gRPC.
    .target(
      name: "ZooProto",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    // Generated gRPC service code for zoo.v1.Zoo and grpc.health.v1.Health.
    .target(name: "ZooRPC", dependencies: ["ZooProto"] + grpc),

    .target(name: "ZooCore", dependencies: ["COpenBLAS"]),
    .target(
      name: "ZooPluginKit",
      dependencies: ["CZooPlugin", "ZooCore", "ZooProto"]),
    .target(
      name: "ZooDaemon",
      dependencies: [
        "CZooPlugin", "ZooCore", "ZooProto", "ZooRPC", "ZooPluginKit",
        .product(name: "Logging", package: "swift-log"),
      ] + grpc),
    .executableTarget(
      name: "zood",
      dependencies: [
        "ZooDaemon", "ZooCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .executableTarget(
      name: "zoo",
      dependencies: [
        "ZooCore", "ZooProto", "ZooRPC",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Crypto", package: "swift-crypto"),
      ] + grpc),
    .executableTarget(
      name: "zoo-bench",
      dependencies: [
        "ZooDaemon", "ZooCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // Plugins.
    .target(
      name: "StateSpace", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/StateSpace", exclude: ["README.md"]),
    .target(
      name: "Autoregressive", dependencies: ["ZooPluginKit", "ZooCore"], path: "Plugins/Autoregressive",
      exclude: ["README.md"]),

    // Tests, by level: unit (ZooCore, ZooDaemon), parity (StateSpace vs the official
    // fixtures), end to end (a real zood on a temporary socket).
    .testTarget(name: "ZooCoreTests", dependencies: ["ZooCore"], path: "Tests/Unit/ZooCoreTests"),
    .testTarget(
      name: "ZooDaemonTests", dependencies: ["ZooDaemon", "ZooProto", "CZooPlugin"],
      path: "Tests/Unit/ZooDaemonTests"),
    .testTarget(
      name: "StateSpaceParityTests", dependencies: ["StateSpace", "ZooPluginKit", "ZooCore"],
      path: "Tests/Parity/StateSpaceParityTests"),
    .testTarget(
      name: "EndToEndTests", dependencies: ["ZooProto", "ZooRPC", "ZooCore"] + grpc,
      path: "Tests/EndToEnd/EndToEndTests"),
  ]
)
