package io.sluice.client;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A scripted fake server per test, in a temporary directory, closed after it. */
abstract class FakeServerTest {
    @TempDir
    Path dir;
    FakeServer server;

    @BeforeEach
    void start() throws Exception {
        server = new FakeServer(dir);
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
