package io.stellane.recovery.rocksdb;

import io.stellane.recovery.Journal;
import io.stellane.recovery.PendingRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.stellane.recovery.testing.TestRequests.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The store recycles WAL files (renamed and overwritten, not deleted), so after a crash the tail of
 * the live WAL can hold records of an older life of the file. RocksDB tells them apart by the log
 * number in each record; this test holds it to that through a real {@code kill -9} in the middle
 * of a stream of grouped appends and completions: every acknowledged append is pending, no
 * acknowledged completion comes back, and every pending request is whole.
 */
class RocksDbWalRecyclingCrashTest {
    private static final int WAL_BLOCK = 32 * 1024;

    @TempDir
    Path tmp;
    private Process child;

    @AfterEach
    void killChild() throws InterruptedException {
        if (child != null && child.isAlive()) {
            child.destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private String childLog() {
        try {
            return Files.readString(tmp.resolve("child.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void killMinus9AfterWalFilesWereRecycledLosesNoAcknowledgedWriteAndRevivesNoStaleOne() throws Exception {
        Path dir = tmp.resolve("store");
        String java = ProcessHandle.current().info().command().orElseThrow();
        // RocksDB unpacks its native library into java.io.tmpdir and a killed JVM leaves it there
        Path childTmp = Files.createDirectories(tmp.resolve("child-tmp"));
        ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-Xmx256m",
                "-Djava.io.tmpdir=" + childTmp, "-cp", System.getProperty("java.class.path"),
                WalChurnChild.class.getName(), dir.toString());
        pb.redirectError(ProcessBuilder.Redirect.appendTo(tmp.resolve("child.log").toFile()));
        child = pb.start();
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = Thread.ofPlatform().daemon().name("wal-churn-stdout").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (IOException ignored) {
                // killed
            }
        });

        int acked = -1;
        int checkedAt = 0;
        while (true) {
            String l = lines.poll(1, TimeUnit.SECONDS);
            if (l == null && child.isAlive()) {
                continue; // the test's timeout bounds this
            }
            assertThat(l).as(() -> "the child's next line; its stderr: " + childLog()).isNotNull().isNotEqualTo("GAVE UP");
            if (l.startsWith("ACK ")) {
                acked = Integer.parseInt(l.substring(4));
            }
            // kill while a recycled WAL is being written over: a stale tail of at least 256 KiB takes
            // the child milliseconds to overwrite, the kill follows at once
            if (acked >= checkedAt + 50) {
                checkedAt = acked;
                if (staleBlocks(dir) >= 8) {
                    break;
                }
            }
        }
        // SIGKILL, mid-stream; through the handle, since Process.destroyForcibly also closes the child's
        // stdout, dropping ACK lines the reader had not read yet (the test then saw pending groups
        // beyond the last ACK it counted)
        child.toHandle().destroyForcibly();
        assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        reader.join(10_000);
        for (String l; (l = lines.poll()) != null; ) {
            if (l.startsWith("ACK ")) {
                acked = Integer.parseInt(l.substring(4));
            }
        }

        assertThat(staleBlocks(dir))
                .as("blocks of a WAL file holding records of an earlier log number: the crash met a recycled WAL")
                .isPositive();

        try (Journal store = RocksDbStorageTest.open(WalChurnChild.config(dir))) {
            List<PendingRequest> pending = store.pending();
            Set<String> ids = new HashSet<>();
            for (PendingRequest p : pending) {
                assertThat(ids.add(p.requestId())).as("listed once: %s", p.requestId()).isTrue();
                assertThat(p.request()).as("whole: %s", p.requestId())
                        .isEqualTo(request(p.requestId(), null, WalChurnChild.BODY_BYTES));
            }
            for (int g = 0; g <= acked; g++) {
                for (int m = 0; m < WalChurnChild.GROUP; m++) {
                    String id = WalChurnChild.id(g, m);
                    if (WalChurnChild.kept(g, m)) {
                        assertThat(ids).as("acknowledged append %s", id).contains(id);
                    } else {
                        assertThat(ids).as("acknowledged completion %s", id).doesNotContain(id);
                    }
                }
            }
            // whatever else is pending is from the groups the kill interrupted
            for (String id : ids) {
                int g = Integer.parseInt(id.substring(1, id.indexOf('-')));
                int m = Integer.parseInt(id.substring(id.indexOf('-') + 1));
                assertThat(g <= acked ? WalChurnChild.kept(g, m) : g <= acked + 2).as("pending %s", id).isTrue();
            }
        }
    }

    /**
     * How many blocks of the live WAL (the highest-numbered; older ones may be deleted or recycled
     * at any moment) carry a log number other than the file's own. Records in the recyclable format
     * (types 5 to 8) carry the number of the log they were written for, and a fragment never
     * crosses a 32 KiB block, so the header at the start of each block is readable whatever was
     * written before it. Reading the files of a live process is safe: they are only read.
     */
    private static int staleBlocks(Path dir) throws IOException {
        Path wal;
        try (Stream<Path> files = Files.list(dir)) {
            wal = files.filter(f -> f.getFileName().toString().endsWith(".log"))
                    .max(Comparator.comparing(Path::getFileName)).orElse(null); // zero-padded numbers
        }
        if (wal == null) {
            return 0;
        }
        String name = wal.getFileName().toString();
        long number = Long.parseLong(name.substring(0, name.length() - ".log".length()));
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(wal)).order(ByteOrder.LITTLE_ENDIAN);
        int stale = 0;
        for (int block = 0; block + 11 <= bytes.limit(); block += WAL_BLOCK) {
            int type = bytes.get(block + 6);
            if (type >= 5 && type <= 8 && Integer.toUnsignedLong(bytes.getInt(block + 7)) != number) {
                stale++;
            }
        }
        return stale;
    }
}
