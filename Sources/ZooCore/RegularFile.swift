import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading files zood does not control (whatever lies in a model folder) so that no file
/// can hang or crash it: only regular files are read (opening a FIFO waits for a writer
/// forever; a device or socket is not a file), the open cannot block (`O_NONBLOCK`), every
/// size is capped before anything is allocated, and a file that changes size while it is
/// read is an error, not a crash.
public enum RegularFile {
  /// A file that could not be read, with the reason in a sentence.
  public struct Failure: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
  }

  /// An open regular file: its descriptor (closed by `close()`) and its size.
  public struct Handle {
    public let path: String
    public let fd: Int32
    public let size: Int

    /// Reads exactly `count` bytes at `offset` into `buffer`; a short read means the file
    /// shrank while it was read.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
      var done = 0
      while done < count {
        let n = pread(fd, buffer + done, count - done, off_t(offset + done))
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
          throw Failure(
            path: path,
            reason: n == 0
              ? "the file ended at \(offset + done) bytes while reading \(count) at \(offset): it was truncated or replaced while zood read it"
              : "read failed: \(String(cString: strerror(errno)))")
        }
        done += n
      }
    }

    public func close() { _ = Glibc.close(fd) }
  }

  /// Opens `path` for reading, refusing anything but a regular file. The caller closes
  /// the handle.
  public static func open(_ path: String) throws -> Handle {
    // O_NONBLOCK: the open returns at once even for a FIFO, which is then refused below;
    // it changes nothing for reads of a regular file.
    let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw Failure(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      let reason = "cannot stat: \(String(cString: strerror(errno)))"
      _ = Glibc.close(fd)
      throw Failure(path: path, reason: reason)
    }
    guard st.st_mode & S_IFMT == S_IFREG else {
      _ = Glibc.close(fd)
      throw Failure(path: path, reason: "is a \(kind(st.st_mode)), not a regular file; zoo reads only regular files")
    }
    return Handle(path: path, fd: fd, size: Int(st.st_size))
  }

  /// The whole file, if it is a regular file of at most `limit` bytes.
  public static func contents(_ path: String, limit: Int) throws -> Data {
    let file = try open(path)
    defer { file.close() }
    guard file.size <= limit else {
      throw Failure(path: path, reason: "is \(file.size) bytes; zoo reads at most \(limit) bytes from such a file")
    }
    var data = Data(count: file.size)
    try data.withUnsafeMutableBytes { try file.read(into: $0.baseAddress!, count: file.size, at: 0) }
    return data
  }

  /// The whole file if it exists, nil if it does not; other failures (a FIFO, too large,
  /// unreadable) throw.
  public static func contentsIfPresent(_ path: String, limit: Int) throws -> Data? {
    var st = stat()
    // lstat-free: a symlink to a regular file is a regular file (the Hugging Face cache
    // links every file of a snapshot); stat() itself never blocks on a FIFO.
    guard stat(path, &st) == 0 else {
      if errno == ENOENT || errno == ENOTDIR { return nil }
      throw Failure(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
    }
    return try contents(path, limit: limit)
  }

  private static func kind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: "FIFO (named pipe)"
    case S_IFDIR: "directory"
    case S_IFCHR: "character device"
    case S_IFBLK: "block device"
    case S_IFSOCK: "socket"
    default: "special file"
    }
  }
}

extension RegularFile {
  /// `folder/name` when `name`, a path a folder's own file gives (a shard in
  /// model.safetensors.index.json, a module in modules.json), stays inside the folder: a
  /// relative path with no ".." component and no NUL. nil otherwise. Symlinks inside the
  /// folder are followed as usual (the Hugging Face cache links every file of a snapshot
  /// into its blobs); what is refused is a name written to climb out.
  public static func path(_ name: String, inside folder: String) -> String? {
    guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\0"),
      !name.split(separator: "/", omittingEmptySubsequences: false).contains("..")
    else { return nil }
    return folder + "/" + name
  }
}

extension String {
  /// This text as an error message may quote it: at most `limit` characters, control
  /// characters escaped, and the full length said when it is cut. Whatever a client or a
  /// file supplied is quoted through this, so a huge or binary value cannot flood a
  /// message (or overflow a client's metadata limit).
  public func clipped(_ limit: Int = 64) -> String {
    var out = ""
    for (i, c) in unicodeScalars.enumerated() {
      if i == limit { return out + "… (\(utf8.count) bytes)" }
      out += c.properties.generalCategory == .control ? c.escaped(asASCII: true) : String(c)
    }
    return out
  }
}
