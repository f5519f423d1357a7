package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The client's error codes against the table of PROTOCOL.md section 5. */
class ErrorCodeTest {
    private static final Pattern ROW =
            Pattern.compile("^\\|\\s*(\\d+)\\s*\\|\\s*`([A-Z_]+)`\\s*\\|\\s*(\\w+)\\s*\\|[^|]*\\|\\s*(yes|no)\\s*\\|");

    /** One row of the table: code, name, where (frame, record, both), retriable. */
    record Row(int code, String name, String where, boolean retriable) {}

    static List<Row> specRows() throws IOException {
        List<Row> rows = new ArrayList<>();
        boolean inside = false;
        for (String line : Files.readAllLines(Vectors.ROOT.resolve("proto-spec/PROTOCOL.md"))) {
            if (line.startsWith("## ")) inside = line.startsWith("## 5.");
            Matcher m = inside ? ROW.matcher(line) : null;
            if (m != null && m.find()) {
                rows.add(new Row(Integer.parseInt(m.group(1)), m.group(2), m.group(3), m.group(4).equals("yes")));
            }
        }
        return rows;
    }

    @Test
    void everyCodeOfSection5IsKnownWithItsNameAndRetriability() throws IOException {
        List<Row> rows = specRows();
        assertTrue(rows.size() >= 28, "only " + rows.size() + " codes in section 5");
        for (Row r : rows) {
            ErrorCode c = ErrorCode.of(r.code());
            assertEquals(r.name(), c.name(), "code " + r.code());
            assertEquals(r.retriable(), c.retriable(), r.name() + " retriable");
        }
        long wireCodes = java.util.Arrays.stream(ErrorCode.values()).filter(c -> c.code() > 0 && c.code() < 100).count();
        assertEquals(rows.size(), wireCodes, "no wire code the spec lacks");
    }

    @Test
    void theContractCodesArePerRecordAndFinal() throws IOException {
        assertEquals(27, ErrorCode.CONTRACT_VIOLATION.code());
        assertEquals(28, ErrorCode.UNKNOWN_TOPIC.code());
        for (Row r : specRows()) {
            if (r.code() == 27 || r.code() == 28) assertEquals("record", r.where(), r.name());
        }
        assertFalse(ErrorCode.CONTRACT_VIOLATION.retriable() || ErrorCode.UNKNOWN_TOPIC.retriable());
    }
}
