package io.sluice.client;

/**
 * Optional zstd compression of PUBLISH frames through zstd-jni (Debian: libzstd-jni-java). The library is only
 * touched when compression is on, so the client runs without it otherwise.
 */
final class Compressor {
    private final int level;

    private Compressor(int level) {
        this.level = level;
    }

    /** A compressor, or INVALID_ARGUMENT when zstd-jni is not on the class path. */
    static Compressor create(int level) {
        try {
            Class.forName("com.github.luben.zstd.Zstd");
            ZstdCall.compress(new byte[1], level); // loads the native library now, not on the first batch
        } catch (ClassNotFoundException | LinkageError e) {
            throw new SluiceException(ErrorCode.INVALID_ARGUMENT, "compression needs zstd-jni on the class path"
                    + " (Debian: libzstd-jni-java, /usr/share/java/zstd-jni.jar): " + e);
        }
        return new Compressor(level);
    }

    /**
     * The frame with its payload as one zstd frame declaring its content size (PROTOCOL.md section 2.2), or
     * null when that is not smaller.
     */
    byte[] compressFrame(byte[] frame, int len) {
        byte[] payload = java.util.Arrays.copyOfRange(frame, Wire.HDR, len);
        byte[] z = ZstdCall.compress(payload, level);
        if (Wire.HDR + z.length >= len) return null;
        byte[] out = new byte[Wire.HDR + z.length];
        Wire.header(out, Wire.PUBLISH, Wire.FLAG_COMPRESSED, 0, z.length);
        System.arraycopy(z, 0, out, Wire.HDR, z.length);
        return out;
    }

    /** The one class that names zstd-jni, loaded only when compression is used. */
    static final class ZstdCall {
        private ZstdCall() {}

        static byte[] compress(byte[] src, int level) {
            return com.github.luben.zstd.Zstd.compress(src, level);
        }
    }
}
