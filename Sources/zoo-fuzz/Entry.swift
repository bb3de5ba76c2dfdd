import Foundation

func complain(_ message: String) { FileHandle.standardError.write(Data("zoo-fuzz: \(message)\n".utf8)) }

// Built with -D ZOO_FUZZ (scripts/fuzz), this is a libFuzzer target: libFuzzer supplies
// main and calls LLVMFuzzerTestOneInput; ZOO_FUZZ_TARGET picks the target. In a plain build
// it is a replay tool: `zoo-fuzz TARGET FILE...` runs inputs (a crash reproduces without
// sanitizers), `zoo-fuzz --write-seeds DIR` writes the protobuf seed corpora.

func targetFromEnvironment() -> FuzzTarget {
  let name = ProcessInfo.processInfo.environment["ZOO_FUZZ_TARGET"] ?? ""
  guard let target = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    complain("set ZOO_FUZZ_TARGET to one of: \(names) (got '\(name)')")
    exit(2)
  }
  return target
}

#if ZOO_FUZZ
// libFuzzer's entry points. SwiftPM links an executable's main to this module's, so main
// hands over to libFuzzer's driver rather than libFuzzer's own main.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
  _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> Int32 {
  if let dir = ProcessInfo.processInfo.environment["ZOO_FUZZ_WRITE_SEEDS"] {
    do { try Seeds.write(to: dir) } catch { complain("\(error)"); exit(1) }
    exit(0)
  }
  selected = targetFromEnvironment()
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
  selected!.run(data)
  return 0
}

@main
enum Fuzz {
  static func main() {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
  }
}
#else
@main
enum Replay {
  static func main() throws {
    var args = Array(CommandLine.arguments.dropFirst())
    if args.first == "--write-seeds", args.count == 2 {
      try Seeds.write(to: args[1])
      return
    }
    let target: FuzzTarget
    if let first = args.first, let t = FuzzTarget(rawValue: first) {
      target = t
      args.removeFirst()
    } else {
      target = targetFromEnvironment()
    }
    guard !args.isEmpty else {
      complain("usage: zoo-fuzz [TARGET] FILE... | zoo-fuzz --write-seeds DIR")
      exit(2)
    }
    for path in args {
      target.run(try Data(contentsOf: URL(fileURLWithPath: path)))
      print("\(target.rawValue): \(path): ok")
    }
  }
}
#endif
