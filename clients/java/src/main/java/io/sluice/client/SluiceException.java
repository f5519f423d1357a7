package io.sluice.client;

/** A failure with its {@link ErrorCode}: a refused record, a server error, a timeout or a broken connection. */
public class SluiceException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final ErrorCode code;
    private final int wireCode;

    /** Makes an exception for a known code. */
    public SluiceException(ErrorCode code, String message) {
        this(code, code.code(), message, null);
    }

    /** Makes an exception for a code and the number it had on the wire (which may be unknown to this client). */
    public SluiceException(ErrorCode code, int wireCode, String message, Throwable cause) {
        super(code.name() + ": " + message, cause);
        this.code = code;
        this.wireCode = wireCode;
    }

    /** The error code; {@link ErrorCode#UNKNOWN} for a number this client does not know. */
    public ErrorCode code() {
        return code;
    }

    /** The code's number as received (equal to {@code code().code()} unless the code is unknown). */
    public int wireCode() {
        return wireCode;
    }

    /** Whether publishing again may succeed: the code is retriable, or unknown to this client and said so. */
    public boolean retriable() {
        return code.retriable();
    }
}
