import CZstd

/// Decompresses zstd payloads within a size limit; one per connection (not thread-safe).
public final class ZstdDecompressor {
    private let context: OpaquePointer

    public init() {
        guard let context = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx: out of memory") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// The largest window a frame may declare when `max decompressed bytes` is smaller: 8 MiB.
    public static let maxWindowBytes: UInt64 = 8 << 20

    /// The `Window_Size` a frame's header declares (RFC 8878, 3.1.1.1.2); nil for a
    /// single-segment frame, whose window is its content size. `frame` has a valid header.
    static func windowSize(_ frame: [UInt8]) -> UInt64? {
        guard frame[4] & 0x20 == 0 else { return nil }
        let descriptor = frame[5]
        let base = UInt64(1) << (10 + UInt64(descriptor >> 3))
        return base + base / 8 * UInt64(descriptor & 0x07)
    }

    /// Decompresses one zstd frame whose header must declare a content size of at most `limit`.
    ///
    /// The size is checked before anything is allocated, and decompression never writes past
    /// the declared size, so a frame that lies about its size fails instead of growing memory.
    public func decompress(_ input: [UInt8], limit: UInt32, requestID: UInt32) throws(ProtocolError) -> [UInt8] {
        // Only a zstd data frame (magic 0xFD2FB528, little-endian) will do; a skippable frame
        // would "decompress" to nothing.
        guard input.count >= 4, input[0] == 0x28, input[1] == 0xB5, input[2] == 0x2F, input[3] == 0xFD else {
            throw ProtocolError(.badCompression, "the payload is not a zstd data frame", requestID: requestID)
        }
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two largest UInt64 values.
        if declared == UInt64.max {
            throw ProtocolError(
                .contentSizeMissing, "the zstd frame does not declare its content size", requestID: requestID)
        }
        if declared == UInt64.max - 1 {
            throw ProtocolError(.badCompression, "the payload is not a zstd frame", requestID: requestID)
        }
        if declared > UInt64(limit) {
            throw ProtocolError(
                .decompressedTooLarge, "declared content size \(declared) is over the limit \(limit)",
                requestID: requestID)
        }
        let frameSize = input.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        if ZSTD_isError(frameSize) != 0 || frameSize != input.count {
            throw ProtocolError(
                .badCompression, "the payload is not exactly one complete zstd frame", requestID: requestID)
        }
        if input.withUnsafeBytes({ ZSTD_getDictID_fromFrame($0.baseAddress, $0.count) }) != 0 {
            throw ProtocolError(.badCompression, "the zstd frame names a dictionary", requestID: requestID)
        }
        // One pass into a buffer of the declared size needs no window, but the protocol bounds
        // it for decoders that stream (PROTOCOL.md section 2.2).
        if let window = Self.windowSize(input), window > max(Self.maxWindowBytes, UInt64(limit)) {
            throw ProtocolError(
                .badCompression, "the zstd frame's window of \(window) bytes is over the limit", requestID: requestID)
        }
        let size = Int(declared)
        var failure: ProtocolError?
        let output = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            let written = input.withUnsafeBytes { src in
                ZSTD_decompressDCtx(context, out.baseAddress, size, src.baseAddress, src.count)
            }
            if ZSTD_isError(written) != 0 || written != size {
                let reason = ZSTD_isError(written) != 0 ? String(cString: ZSTD_getErrorName(written)) : "size mismatch"
                failure = ProtocolError(.badCompression, "zstd: \(reason)", requestID: requestID)
                initialized = 0
            } else {
                initialized = size
            }
        }
        if let failure { throw failure }
        return output
    }
}

/// Compresses payloads into single zstd frames that declare their content size.
public final class ZstdCompressor {
    private let context: OpaquePointer
    private let level: Int32

    public init(level: Int32 = 1) {
        guard let context = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx: out of memory") }
        self.context = context
        self.level = level
    }

    deinit { ZSTD_freeCCtx(context) }

    public func compress(_ input: [UInt8]) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { out, initialized in
            let written = input.withUnsafeBytes { src in
                ZSTD_compressCCtx(context, out.baseAddress, bound, src.baseAddress, src.count, level)
            }
            precondition(ZSTD_isError(written) == 0, "zstd compression into a bound-sized buffer cannot fail")
            initialized = written
        }
    }
}
