import CZooPlugin
import Foundation
import ZooCore
import ZooABI

/// A model in memory: its weights (read from the files), the plugin's handle, its
/// tokenizer, and the scheduler that decides who runs on it.
public final class LoadedModel: @unchecked Sendable {
  public let folder: ModelFolder
  public let plugin: LoadedPlugin
  public let handle: ModelHandle
  public let weightBytes: Int
  /// The tokenizer for text prompts, or why there is none.
  let tokenizer: Result<any Tokenizer, ZooError>
  private let files: [SafetensorsFile]
  // The zoo_weights table handed to the plugin, kept alive until unload.
  private let names: [UnsafeMutablePointer<CChar>]
  private let views: UnsafeMutableBufferPointer<zoo_tensor_view>
  private let namePointers: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>

  /// Slots, queue and keep-alive of this model.
  let scheduler: Scheduler
  /// Runs the decode steps of this model's concurrent requests together; nil when the
  /// model cannot batch them or only one request runs at a time.
  let batcher: StepBatcher?

  /// Reads the folder's weights and asks the plugin to build the model, reporting both
  /// steps to `progress`.
  init(
    folder: ModelFolder, plugin: LoadedPlugin, parallel: Int, maxQueue: Int, keepAlive: Duration,
    progress: LoadProgress? = nil
  ) throws {
    guard let api = plugin.modelAPI(for: folder.modelType) else {
      throw ZooError.unavailable("plugin '\(plugin.name)' gave no table for model type '\(folder.modelType)'")
    }
    var files: [SafetensorsFile] = []
    do {
      let total = max(folder.sizeBytes, 1)
      var before: UInt64 = 0
      for path in folder.weightFiles {
        let file = try SafetensorsFile(path: path) { read in
          let done = min(before + UInt64(read), total)
          progress?.report(stage: "reading weights", fraction: Double(done) / Double(total), doneBytes: done, totalBytes: total)
        }
        before += UInt64(file.byteCount)
        files.append(file)
      }
    } catch {
      throw ZooError.failedPrecondition("model '\(folder.name)' has a broken checkpoint: \(error)")
    }
    var entries: [TensorEntry] = []
    var seen = Set<String>()
    for file in files {
      for name in file.names {
        guard seen.insert(name).inserted else {
          throw ZooError.failedPrecondition("model '\(folder.name)': tensor '\(name)' appears in two safetensors files")
        }
        entries.append(file.tensors[name]!)
      }
    }
    names = entries.map { strdup($0.name)! }
    namePointers = .allocate(capacity: max(entries.count, 1))
    views = .allocate(capacity: max(entries.count, 1))
    for (i, e) in entries.enumerated() {
      namePointers[i] = UnsafePointer(names[i])
      views[i] = zoo_tensor_view(e)
    }
    self.files = files
    self.folder = folder
    self.plugin = plugin
    self.weightBytes = files.reduce(0) { $0 + $1.byteCount }
    self.scheduler = Scheduler(modelName: folder.name, parallel: parallel, maxQueue: maxQueue, keepAlive: keepAlive)
    self.tokenizer = folder.loadTokenizer()

    var weights = zoo_weights(
      size: UInt32(MemoryLayout<zoo_weights>.size), count: Int64(entries.count),
      names: UnsafePointer(namePointers.baseAddress), tensors: UnsafePointer(views.baseAddress))
    var model: OpaquePointer?
    var err = zoo_error.empty
    progress?.report(stage: "building the model", fraction: 0)
    let rc = folder.modelType.withCString { type in
      folder.configJSON.withCString { config in
        folder.path.withCString { path in
          (folder.settings.weights ?? "").withCString { format in
            withUnsafePointer(to: &weights) { w in
              var args = zoo_model_load_args(
                size: UInt32(MemoryLayout<zoo_model_load_args>.size), model_type: type, config_json: config,
                folder: path, weights: w, host: UnsafePointer(plugin.host.table), weights_format: format)
              return api.pointee.load(&args, &model, &err)
            }
          }
        }
      }
    }
    guard rc == 0, let model else {
      Self.free(names, namePointers, views)
      throw ZooError.fromPlugin(
        rc, PluginError(code: rc, from: err).message, context: "loading model '\(folder.name)'")
    }
    do {
      handle = try ModelHandle(api: api, model: model)
    } catch {
      api.pointee.unload(model)
      Self.free(names, namePointers, views)
      throw ZooError.internalError("model '\(folder.name)' loaded but cannot describe itself: \(error)")
    }
    batcher = handle.batchesSteps && parallel > 1 ? StepBatcher(handle: handle, modelName: folder.name, limit: parallel) : nil
  }

  deinit {
    // Every state is gone (requests hold a strong reference to this model while they
    // run), so the plugin can drop the model; then the weights' memory goes.
    handle.api.pointee.unload(handle.model)
    Self.free(names, namePointers, views)
  }

  private static func free(
    _ names: [UnsafeMutablePointer<CChar>], _ pointers: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>,
    _ views: UnsafeMutableBufferPointer<zoo_tensor_view>
  ) {
    names.forEach { Foundation.free($0) }
    pointers.deallocate()
    views.deallocate()
  }

  /// Bytes held by the running requests' states now.
  func stateBytes(_ snapshot: Scheduler.Snapshot) -> Int {
    let info = handle.info
    return info.stateIsFixed ? snapshot.runningTokens.count * info.stateBytes : snapshot.runningTokens.reduce(0, +) * info.stateBytes
  }
}
