package io.stellane.recovery.testing;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Captures {@code System.err} while open, where slf4j-simple (the tests' logging backend) writes every
 * line: a test counts the log records a fault produced. What is captured is still written through.
 *
 * <p>Thread-safe: any thread may log meanwhile; the test thread reads.
 */
public final class StderrCapture implements AutoCloseable {
    /** The first line of an slf4j-simple record: {@code [thread] LEVEL logger - message}. */
    private static final Pattern RECORD = Pattern.compile("^\\[[^\\]]*\\] (ERROR|WARN|INFO|DEBUG|TRACE) .*");

    private final PrintStream original = System.err;
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

    private StderrCapture() {
        OutputStream tee = new OutputStream() {
            @Override
            public void write(int b) {
                original.write(b);
                synchronized (captured) {
                    captured.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) {
                original.write(b, off, len);
                synchronized (captured) {
                    captured.write(b, off, len);
                }
            }
        };
        System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
    }

    public static StderrCapture start() {
        return new StderrCapture();
    }

    /** Every line written so far. */
    public List<String> lines() {
        synchronized (captured) {
            return captured.toString(StandardCharsets.UTF_8).lines().toList();
        }
    }

    /** The log records written so far (a record's stack trace lines are not counted). */
    public List<String> records() {
        return lines().stream().filter(l -> RECORD.matcher(l).matches()).toList();
    }

    /** Forgets what was captured so far. */
    public void reset() {
        synchronized (captured) {
            captured.reset();
        }
    }

    @Override
    public void close() {
        System.setErr(original);
    }
}
