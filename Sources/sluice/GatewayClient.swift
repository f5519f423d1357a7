import Foundation
import SluiceProtocol
import SluiceSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking client of the gateway for the command-line tools.
final class GatewayClient {
    private let descriptor: Int32
    private var decoder = FrameDecoder(role: .client)
    private var nextRequestID: UInt32 = 1
    private(set) var limits = Limits()
    private var version: UInt8 = 1
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)

    init(socketPath: String) throws {
        guard UnixSocketAddress(socketPath) != nil else { throw ClientError("socket path too long: \(socketPath)") }
        descriptor = connectUnixSocket(socketPath)
        guard descriptor >= 0 else {
            let number = errno
            let reason = errnoText(number)
            let hint =
                switch number {
                case ENOENT, ECONNREFUSED: " (is `sluice serve` running, with this --socket or SLUICE_SOCKET?)"
                case EACCES, EPERM: " (may this user connect? see socket-mode and access.socket-group)"
                default: ""
                }
            throw ClientError("cannot connect to \(socketPath): \(reason)\(hint)")
        }
        let id = takeRequestID()
        try write(Hello(clientName: "sluice-cli/\(sluiceVersion)").frame(requestID: id))
        switch try readMessage() {
        case .helloOK(let ok):
            limits = ok.limits
            version = UInt8(ok.version)
            decoder.expectedVersion = version
        case .error(let error):
            throw ClientError(error)
        default:
            throw ClientError("unexpected reply to HELLO")
        }
    }

    deinit { close(descriptor) }

    func takeRequestID() -> UInt32 {
        defer { nextRequestID = nextRequestID == UInt32.max ? 1 : nextRequestID + 1 }
        return nextRequestID
    }

    func stats() throws -> String {
        try write(Frame(.stats, requestID: takeRequestID(), version: version, payload: []))
        switch try readMessage() {
        case .statsReply(let json): return json
        case .error(let error): throw ClientError(error)
        default: throw ClientError("unexpected reply to STATS")
        }
    }

    /// Sends one `PUBLISH` of `payload` (compressed when `compressed`), returning its request id.
    func sendPublish(payload: [UInt8], compressed: Bool) throws -> UInt32 {
        let id = takeRequestID()
        try write(
            Frame(
                .publish, requestID: id, version: version,
                flags: compressed ? FrameHeader.compressedFlag : 0, payload: payload))
        return id
    }

    func ping() throws -> UInt32 {
        let id = takeRequestID()
        try write(Frame(.ping, requestID: id, version: version, payload: []))
        return id
    }

    func write(_ frame: Frame) throws {
        let bytes = frame.encoded()
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw ClientError("write to gateway failed: \(errnoText())")
            }
            offset += written
        }
    }

    /// The next reply from the gateway, with its request id; blocks.
    func readReply() throws -> (requestID: UInt32, message: ServerMessage) {
        while true {
            do {
                if let frame = try decoder.next() {
                    return (frame.header.requestID, try ServerMessage(frame: frame))
                }
            } catch {
                throw ClientError("bad frame from the gateway: \(error)")
            }
            let count = readBuffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw ClientError(count == 0 ? "the gateway closed the connection" : errnoText())
            }
            readBuffer.withUnsafeBytes { decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// A reply already read from the socket and decoded, without reading more; nil if none.
    func bufferedReply() throws -> (requestID: UInt32, message: ServerMessage)? {
        do {
            guard let frame = try decoder.next() else { return nil }
            return (frame.header.requestID, try ServerMessage(frame: frame))
        } catch {
            throw ClientError("bad frame from the gateway: \(error)")
        }
    }

    /// The socket's descriptor, for `poll`.
    var socketDescriptor: Int32 { descriptor }

    private func readMessage() throws -> ServerMessage { try readReply().message }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
    init(_ error: ErrorMessage) {
        let name = error.code?.name ?? "code \(error.rawCode)"
        description = "gateway error \(name) (\(error.rawCode)): \(error.message)"
    }
}
