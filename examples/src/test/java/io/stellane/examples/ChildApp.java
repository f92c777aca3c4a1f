package io.stellane.examples;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.fail;

/**
 * The example service in a child JVM, as {@code ./stellane serve} runs it (same java binary, the
 * test class path, the launcher's JVM flags), with its output read line by line. Tests stop it by
 * the PID they started: {@link #kill()} in {@code @AfterEach}.
 */
final class ChildApp {
    static final Pattern URL = Pattern.compile("serving https?://127\\.0\\.0\\.1:(\\d+)/");
    static final Pattern MANAGEMENT_URL = Pattern.compile("management https?://127\\.0\\.0\\.1:(\\d+)/");
    private static final String EOF = "\u0000eof";

    final Process process;
    final List<String> output = new ArrayList<>();
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    /** {@code tmp} becomes the child's java.io.tmpdir, so what it extracts there goes with the test's directory even after kill -9. */
    ChildApp(Path tmp, String... args) throws Exception {
        this(null, List.of(), tmp, args);
    }

    /** With extra JVM options (heap settings, say), given before the class name. */
    static ChildApp withJvmOptions(List<String> jvmOptions, Path tmp, String... args) throws Exception {
        return new ChildApp(null, jvmOptions, tmp, args);
    }

    /**
     * The same under the umask {@code umask} (e.g. {@code "022"}), set by a shell that then execs the JVM:
     * the process (and its PID) is the JVM's.
     */
    static ChildApp withUmask(String umask, Path tmp, String... args) throws Exception {
        return new ChildApp(umask, List.of(), tmp, args);
    }

    private ChildApp(String umask, List<String> jvmOptions, Path tmp, String... args) throws Exception {
        Files.createDirectories(tmp);
        List<String> cmd = new ArrayList<>();
        if (umask != null) {
            cmd.addAll(List.of("/bin/sh", "-c", "umask " + umask + " && exec \"$@\"", "sh"));
        }
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Djava.io.tmpdir=" + tmp));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), UsersService.class.getName()));
        cmd.addAll(List.of(args));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (Exception e) {
                lines.add("reader failed: " + e);
            } finally {
                lines.add(EOF);
            }
        }, "child-app-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Output lines until one matches {@code pattern}; fails at the end of the output or after {@code seconds}. */
    Matcher awaitLine(Pattern pattern, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null || line.equals(EOF)) {
                fail("no line matching " + pattern + (line == null ? " within " + seconds + " s" : " before the child ended")
                        + "; output so far:\n" + String.join("\n", output));
            }
            output.add(line);
            Matcher m = pattern.matcher(line);
            if (m.find()) {
                return m;
            }
        }
    }

    /** The output lines so far, without waiting (those {@link #awaitLine} read past included). */
    List<String> outputSoFar() {
        for (String line; (line = lines.poll()) != null; ) {
            if (!line.equals(EOF)) {
                output.add(line);
            } else {
                lines.add(EOF); // keep the end for awaitLine
                break;
            }
        }
        return List.copyOf(output);
    }

    /** Waits for the banner's URL and returns the port. */
    int port() throws InterruptedException {
        return Integer.parseInt(awaitLine(URL, 60).group(1));
    }

    /** Waits for the banner's management URL (the line after the public one) and returns its port. */
    int managementPort() throws InterruptedException {
        return Integer.parseInt(awaitLine(MANAGEMENT_URL, 10).group(1));
    }

    /** kill -9 of the process this test started, and waits for it to be gone. */
    void kill() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
