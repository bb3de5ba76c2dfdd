import Foundation
import ZooCore
import ZooSocket

#if canImport(Glibc)
import Glibc
#endif

/// A plain connection to zood's socket, for tests that work below gRPC: holding
/// connections open without using them, or sending raw HTTP/2 frames.
final class RawConnection {
  let fd: Int32

  init(_ path: String) throws {
    guard let fd = UnixSocket.connect(path) else {
      throw ZoodFailure(message: "cannot connect to \(path): \(String(cString: strerror(errno)))")
    }
    self.fd = fd
  }

  deinit { close(fd) }

  func send(_ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
      let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      guard n > 0 else { throw ZoodFailure(message: "send failed: \(String(cString: strerror(errno)))") }
      sent += n
    }
  }

  /// What arrives until `quiet` passes with nothing new, the peer closes, or `limit`
  /// passes in all; `closed` tells whether the peer closed the connection.
  func receive(quiet: Duration = .milliseconds(500), limit: Duration = .seconds(5)) -> (bytes: [UInt8], closed: Bool) {
    var out: [UInt8] = []
    let end = ContinuousClock.now + limit
    var buffer = [UInt8](repeating: 0, count: 65536)
    while ContinuousClock.now < end {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&p, 1, Int32(quiet.components.seconds * 1000 + quiet.components.attoseconds / 1_000_000_000_000_000))
      guard ready > 0 else { break }
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 { return (out, true) }
      out += buffer[..<n]
    }
    return (out, false)
  }
}

/// Just enough HTTP/2 (RFC 9113) to open streams by hand and read the frames back.
enum HTTP2 {
  static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

  struct Frame {
    let type: UInt8
    let flags: UInt8
    let stream: UInt32
    let payload: [UInt8]

    static let settingsType: UInt8 = 0x4
    static let goAwayType: UInt8 = 0x7
  }

  static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
    let length = payload.count
    return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
      + [UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
      + payload
  }

  /// An empty SETTINGS frame: a client's first frame after the preface.
  static let emptySettings = frame(type: Frame.settingsType, flags: 0, stream: 0, payload: [])
  /// The acknowledgement of the server's SETTINGS, without which they do not apply.
  static let settingsAck = frame(type: Frame.settingsType, flags: 0x1, stream: 0, payload: [])

  /// A HEADERS frame opening a gRPC call to `path` (no END_STREAM: the call stays open),
  /// each header a literal without indexing and without Huffman coding (RFC 7541 §6.2.2).
  static func openCall(stream: UInt32, path: String) -> [UInt8] {
    let headers = [
      (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "zood"),
      ("content-type", "application/grpc"), ("te", "trailers"),
    ]
    var block: [UInt8] = []
    for (name, value) in headers {
      block.append(0x00)
      for string in [name, value] {
        precondition(string.utf8.count < 127)
        block.append(UInt8(string.utf8.count))
        block += Array(string.utf8)
      }
    }
    return frame(type: 0x1, flags: 0x4, stream: stream, payload: block)  // END_HEADERS
  }

  /// A DATA frame carrying one gRPC message (uncompressed, length-prefixed) that ends
  /// the client's side of the call.
  static func lastMessage(stream: UInt32, _ message: [UInt8]) -> [UInt8] {
    let n = UInt32(message.count)
    let prefixed = [0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + message
    return frame(type: 0x0, flags: 0x1, stream: stream, payload: prefixed)  // END_STREAM
  }

  static func frames(_ bytes: [UInt8]) -> [Frame] {
    var out: [Frame] = []
    var i = 0
    while i + 9 <= bytes.count {
      let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
      guard i + 9 + length <= bytes.count else { break }
      let stream = UInt32(bytes[i + 5] & 0x7f) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8
        | UInt32(bytes[i + 8])
      out.append(Frame(type: bytes[i + 3], flags: bytes[i + 4], stream: stream, payload: Array(bytes[(i + 9)..<(i + 9 + length)])))
      i += 9 + length
    }
    return out
  }

  /// The parameters of a SETTINGS frame: identifier → value.
  static func settings(_ frame: Frame) -> [UInt16: UInt32] {
    var out: [UInt16: UInt32] = [:]
    var i = 0
    let p = frame.payload
    while i + 6 <= p.count {
      out[UInt16(p[i]) << 8 | UInt16(p[i + 1])] =
        UInt32(p[i + 2]) << 24 | UInt32(p[i + 3]) << 16 | UInt32(p[i + 4]) << 8 | UInt32(p[i + 5])
      i += 6
    }
    return out
  }
}
