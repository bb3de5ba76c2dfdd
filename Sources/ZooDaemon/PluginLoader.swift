import CZooPlugin
import Foundation
import Logging
import ZooProto

#if canImport(Glibc)
import Glibc
#endif

/// A plugin that passed every check: its manifest and its C tables.
public final class LoadedPlugin: @unchecked Sendable {
  public let path: String
  public let manifest: Zoo_V1_PluginManifest
  let table: UnsafePointer<zoo_plugin>
  let host: HostServices

  init(path: String, manifest: Zoo_V1_PluginManifest, table: UnsafePointer<zoo_plugin>, host: HostServices) {
    self.path = path
    self.manifest = manifest
    self.table = table
    self.host = host
  }

  public var name: String { manifest.name }

  /// The C table for a model type the manifest declares.
  public func modelAPI(for modelType: String) -> UnsafePointer<zoo_model_api>? {
    guard manifest.modelTypes.contains(where: { $0.modelType == modelType }) else { return nil }
    return modelType.withCString { table.pointee.model_api?($0) }
  }

  /// The C table for a decoder the manifest declares.
  public func decoderAPI(for decoder: String) -> UnsafePointer<zoo_decoder_api>? {
    guard manifest.decoders.contains(where: { $0.name == decoder }) else { return nil }
    return decoder.withCString { table.pointee.decoder_api?($0) }
  }

  /// The C table for a middleware the manifest declares (ABI 1.2 plugins only).
  func middlewareAPI(for middleware: String) -> UnsafePointer<zoo_middleware_api>? {
    guard manifest.middleware.contains(where: { $0.name == middleware }), zoo_plugin_has_middleware(table) != 0 else {
      return nil
    }
    return middleware.withCString { table.pointee.middleware_api?($0) }
  }
}

/// The outcome of trying one plugin file: READY with the plugin, or FAILED with why.
public struct PluginRecord: Sendable {
  /// As clients see it (ListPlugins, `zoo plugin check`).
  public var status: Zoo_V1_PluginStatus {
    .with {
      $0.path = path
      $0.state = plugin != nil ? .ready : .failed
      $0.error = error ?? ""
      if let manifest { $0.manifest = manifest }
    }
  }

  public let path: String
  public let plugin: LoadedPlugin?
  /// Why the plugin failed; nil when ready.
  public let error: String?
  /// The manifest, when the plugin got far enough to produce a valid one.
  public let manifest: Zoo_V1_PluginManifest?
}

/// Finds and opens plugins. Any failure makes that plugin FAILED with a readable
/// reason; the loader never throws for one bad plugin.
public struct PluginLoader {
  let logger: Logger

  public init(logger: Logger) { self.logger = logger }

  /// Every `*.so` directly inside the folders, in name order.
  public func discover(in folders: [String]) -> [String] {
    folders.flatMap { folder -> [String] in
      let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
      if names.isEmpty && !FileManager.default.fileExists(atPath: folder) {
        logger.warning("plugin folder \(folder) does not exist")
      }
      return names.filter { $0.hasSuffix(".so") }.sorted().map { (folder as NSString).appendingPathComponent($0) }
    }
  }

  /// Loads each plugin file; a second plugin with a name already taken is FAILED.
  public func load(paths: [String]) -> [PluginRecord] {
    var records: [PluginRecord] = []
    var byName: [String: String] = [:]
    for path in paths {
      var record = load(path: path)
      if let p = record.plugin {
        if let first = byName[p.name] {
          record = PluginRecord(
            path: path, plugin: nil,
            error: "a plugin named '\(p.name)' is already loaded from \(first); remove one of the two", manifest: p.manifest)
        } else {
          byName[p.name] = path
        }
      }
      if let error = record.error {
        logger.error("plugin \(path) FAILED: \(error)")
      } else if let p = record.plugin {
        logger.info(
          "plugin \(p.name) \(p.manifest.version) ready: models [\(p.manifest.modelTypes.map(\.modelType).joined(separator: ", "))], decoders [\(p.manifest.decoders.map(\.name).joined(separator: ", "))]")
      }
      records.append(record)
    }
    return records
  }

  /// Opens one plugin file and checks it: permissions, dlopen, entry symbol, init,
  /// ABI version, manifest.
  public func load(path: String) -> PluginRecord {
    func failed(_ reason: String, _ manifest: Zoo_V1_PluginManifest? = nil) -> PluginRecord {
      PluginRecord(path: path, plugin: nil, error: reason, manifest: manifest)
    }
    let resolved: String
    switch Self.checkedPath(path) {
    case .success(let checked): resolved = checked
    case .failure(let refusal): return failed(refusal.reason)
    }

    // RTLD_NODELETE: a Swift plugin can never really be unloaded (the runtime keeps
    // pointers into its metadata), so zood never dlcloses and says so to the loader.
    guard let handle = dlopen(resolved, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
      let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
      return failed("not a loadable shared library: \(reason)")
    }
    guard let symbol = dlsym(handle, ZOO_PLUGIN_ENTRY_SYMBOL) else {
      return failed("the library does not export the entry symbol '\(ZOO_PLUGIN_ENTRY_SYMBOL)'; is it a zoo plugin?")
    }
    let entry = unsafeBitCast(symbol, to: zoo_plugin_init_fn.self)
    let fileName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    let host = HostServices(pluginName: fileName, logger: logger)
    var table: UnsafePointer<zoo_plugin>?
    var err = zoo_error()
    err.size = UInt32(MemoryLayout<zoo_error>.size)
    let rc = entry(host.table, &table, &err)
    guard rc == 0 else {
      let message = withUnsafeBytes(of: &err.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
      return failed("zoo_plugin_init failed (\(rc)): \(message.isEmpty ? "no reason given" : message)")
    }
    guard let table else { return failed("zoo_plugin_init returned success but no plugin table") }
    let t = table.pointee
    guard zoo_plugin_has_decoder_api(table) != 0 else {
      return failed("the plugin table is \(t.size) bytes, smaller than any ABI version's table")
    }
    guard t.abi_major == ZOO_ABI_MAJOR else {
      return failed(
        "built for zoo ABI \(t.abi_major).\(t.abi_minor); this zood speaks ABI \(ZOO_ABI_MAJOR).\(ZOO_ABI_MINOR) (major versions must match): rebuild the plugin against this zoo_plugin.h")
    }
    guard t.abi_minor <= ZOO_ABI_MINOR else {
      return failed(
        "built for zoo ABI \(t.abi_major).\(t.abi_minor), newer than this zood's \(ZOO_ABI_MAJOR).\(ZOO_ABI_MINOR): upgrade zood")
    }
    guard let bytes = t.manifest, t.manifest_len > 0 else { return failed("the plugin table has no manifest") }
    let manifest: Zoo_V1_PluginManifest
    do {
      manifest = try Zoo_V1_PluginManifest(serializedBytes: Array(UnsafeBufferPointer(start: bytes, count: t.manifest_len)))
    } catch {
      return failed("the manifest is not a valid zoo.v1.PluginManifest protobuf: \(error)")
    }
    let problems = ManifestValidator.problems(in: manifest, tableMajor: t.abi_major, tableMinor: t.abi_minor)
    guard problems.isEmpty else { return failed("invalid manifest: " + problems.joined(separator: "; "), manifest) }
    for type in manifest.modelTypes where type.modelType.withCString({ t.model_api?($0) }) == nil {
      return failed("the manifest declares model type '\(type.modelType)' but model_api returns no table for it", manifest)
    }
    for d in manifest.decoders where d.name.withCString({ t.decoder_api?($0) }) == nil {
      return failed("the manifest declares decoder '\(d.name)' but decoder_api returns no table for it", manifest)
    }
    return PluginRecord(
      path: path, plugin: LoadedPlugin(path: path, manifest: manifest, table: table, host: host), error: nil,
      manifest: manifest)
  }

  /// The path to `dlopen` for a plugin file, after the checks of ssh's StrictModes: the
  /// file (followed through any symlink) must be a regular file that no one but us or root
  /// owns or can write, and so must every folder above it up to `/`, or another user could
  /// swap the library zood runs. A folder writable by others passes only with the sticky
  /// bit (like /tmp: there only an entry's owner may replace it). Since no one else can
  /// change any of them, the file checked is the file loaded. Returns the resolved path,
  /// or the reason the file is refused.
  static func checkedPath(_ path: String) -> Result<String, PluginLoadFailure> {
    guard let resolvedC = realpath(path, nil) else {
      return .failure(.init("cannot resolve \(path): \(String(cString: strerror(errno)))"))
    }
    let resolved = String(cString: resolvedC)
    free(resolvedC)
    let via = resolved == path ? "" : " (\(path) leads there)"
    func problem(_ what: String, _ p: String, _ st: stat, allowSticky: Bool) -> PluginLoadFailure? {
      let writable = st.st_mode & (S_IWGRP | S_IWOTH) != 0
      if writable && !(allowSticky && st.st_mode & S_ISVTX != 0) {
        return .init(
          "refused: the \(what) \(p)\(via) is writable by other users (mode \(String(st.st_mode & 0o7777, radix: 8))); run chmod go-w on it")
      }
      if st.st_uid != getuid() && st.st_uid != 0 {
        return .init("refused: the \(what) \(p)\(via) is owned by uid \(st.st_uid), neither this user nor root")
      }
      return nil
    }
    var folder = (resolved as NSString).deletingLastPathComponent
    while true {
      var st = stat()
      guard stat(folder, &st) == 0 else {
        return .failure(.init("cannot stat the plugin folder \(folder)\(via): \(String(cString: strerror(errno)))"))
      }
      if let p = problem("plugin folder", folder, st, allowSticky: true) { return .failure(p) }
      if folder == "/" || folder.isEmpty { break }
      folder = (folder as NSString).deletingLastPathComponent
    }
    // A FIFO named like a plugin is refused here, before dlopen could wait on it.
    var st = stat()
    guard stat(resolved, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
      return .failure(.init("refused: \(resolved)\(via) is not a regular file"))
    }
    if let p = problem("plugin file", resolved, st, allowSticky: false) { return .failure(p) }
    return .success(resolved)
  }
}

/// Why a plugin file was not loaded.
struct PluginLoadFailure: Error {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}
