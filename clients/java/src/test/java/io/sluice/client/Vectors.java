package io.sluice.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** proto-spec/vectors/frames.tsv (PROTOCOL.md section 8), loaded once. */
final class Vectors {
    /** One vector: name, direction, expectation, frame bytes, decompressed payload or null, reply column. */
    record Vector(String name, String direction, String expect, byte[] frame, byte[] plain, String reply) {
        /** The expected error code of an {@code error:N} vector, else -1. */
        int error() {
            return expect.startsWith("error:") ? Integer.parseInt(expect.substring(6)) : -1;
        }

        /** The per-record codes of a {@code records:...} vector, else null. */
        int[] recordCodes() {
            if (!expect.startsWith("records:")) return null;
            String[] parts = expect.substring(8).split(",");
            int[] out = new int[parts.length];
            for (int i = 0; i < parts.length; i++) out[i] = Integer.parseInt(parts[i]);
            return out;
        }
    }

    static final Path ROOT = Path.of(System.getenv().getOrDefault("SLUICE_ROOT", "../.."));
    static final List<Vector> ALL = load(ROOT.resolve("proto-spec/vectors/frames.tsv"));

    private Vectors() {}

    static Vector named(String name) {
        for (Vector v : ALL) {
            if (v.name().equals(name)) return v;
        }
        throw new AssertionError("vector " + name + " missing from frames.tsv");
    }

    static byte[] hex(String s) {
        if (s.equals("-")) return null;
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    private static List<Vector> load(Path p) {
        try {
            List<Vector> out = new ArrayList<>();
            for (String line : Files.readAllLines(p)) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.split("\t", -1);
                out.add(new Vector(f[0], f[1], f[2], hex(f[3]), hex(f[4]), f[5]));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + p + " (set SLUICE_ROOT to the checkout)", e);
        }
    }
}
