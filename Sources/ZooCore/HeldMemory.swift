import CZooKernels

/// What a model builds at load besides the weights zood hands it (float32 copies of 16-bit
/// vectors, quantised, fused or repacked matrices, copies in huge pages), measured so
/// that `zoo ps` can show the memory a model really holds.
///
/// The buffers that hold such data (`OwnedFloats`, `OwnedBytes`, a `Weight` that owns
/// its values, and any a plugin keeps itself) report their bytes when made and when
/// freed; the count is per thread, so a load on one thread is not confused by another
/// model being used or unloaded on another.
public enum HeldMemory {
  /// Counts `bytes` more (negative: fewer) held by buffers made on this thread.
  @inline(__always)
  public static func add(_ bytes: Int) { zoo_held_add(Int64(bytes)) }

  /// Runs `body` and returns its result with the bytes that buffers made during it (on
  /// this thread) still hold at its end.
  public static func measure<T>(_ body: () throws -> T) rethrows -> (T, bytes: Int) {
    let before = zoo_held_on_this_thread()
    let result = try body()
    return (result, Int(zoo_held_on_this_thread() - before))
  }
}
