import Foundation
import Logging
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 server for `GET` requests (metrics, health), one request per connection.
///
/// It runs on a thread of its own and serves one client at a time: it is meant for a scraper
/// and a health probe, not for traffic. Every reply closes the connection.
public final class HTTPEndpoint: Sendable {
    /// What a handler answers: status code, content type and body.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    private let descriptor: Int32
    /// The port the listener is bound to (useful when asked for port 0).
    public let port: UInt16
    private let done = DispatchSemaphore(value: 0)

    /// Binds `host:port` and starts serving `handler(path)` on a new thread.
    public init(
        host: String, port: UInt16, logger: Logger, handler: @escaping @Sendable (String) -> Response
    ) throws(NetworkError) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let address = found else {
            throw NetworkError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(
            address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw NetworkError("socket() for \(host):\(port): \(errnoText())")
        }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0, listen(descriptor, 16) == 0
        else {
            let number = errno
            close(descriptor)
            throw NetworkError("cannot listen on \(host):\(port): \(errnoText(number))")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = withUnsafeBytes(of: &bound) { bytes in
            // sin_port and sin6_port sit at the same offset, in network byte order.
            UInt16(bigEndian: bytes.load(fromByteOffset: 2, as: UInt16.self))
        }
        self.descriptor = descriptor
        let done = done
        let thread = Thread {
            nameCurrentThread("sluice-http")
            while true {
                let client = accept(descriptor, nil, nil)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    if errno == EMFILE || errno == ENFILE {
                        usleep(100_000)
                        continue
                    }
                    break
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                Self.serve(client, handler: handler, logger: logger)
                close(client)
            }
            done.signal()
        }
        thread.start()
    }

    /// Stops accepting and waits for the serving thread to end.
    public func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        done.wait()
        close(descriptor)
    }

    private static func serve(
        _ client: Int32, handler: @Sendable (String) -> Response, logger: Logger
    ) {
        // A client that says nothing for 2 s is dropped: the server has one thread.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16_384 {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { return }
            request += buffer[..<count]
            if request.count >= 4, (3..<request.count).contains(where: { request[($0 - 3)...$0] == [13, 10, 13, 10] }) {
                break
            }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let response: Response
        if parts.count == 3, parts[0] == "GET" || parts[0] == "HEAD" {
            let path = String(parts[1].prefix { $0 != "?" })
            response = handler(path)
        } else {
            response = Response(status: 405, body: Array("only GET\n".utf8))
        }
        let head =
            "HTTP/1.1 \(response.status) \(reason(response.status))\r\nContent-Type: \(response.contentType)\r\n"
            + "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if parts.first != "HEAD" { bytes += response.body }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written <= 0 {
                logger.debug("HTTP client went away before its reply was sent")
                return
            }
            offset += written
        }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
