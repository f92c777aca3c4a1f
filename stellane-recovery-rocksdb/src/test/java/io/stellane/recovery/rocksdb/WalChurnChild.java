package io.stellane.recovery.rocksdb;

import io.stellane.recovery.Journal;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.SyncPolicy;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static io.stellane.recovery.testing.TestRequests.request;

/**
 * The child JVM of {@link RocksDbWalRecyclingCrashTest}: appends groups of requests and completes
 * all but one in {@value #KEEP_EVERY} of them, as the server's group commit does, through enough
 * memtables that RocksDB recycles its WAL files. Prints {@code ACK g} once group {@code g} is
 * appended and completed. Runs until it is killed, or gives up after {@value #MAX_GROUPS} groups.
 */
final class WalChurnChild {
    static final int GROUP = 16;
    static final int KEEP_EVERY = 50;
    static final int BODY_BYTES = 1024;
    static final int MAX_GROUPS = 20_000;

    static String id(int group, int member) {
        return "g" + group + "-" + member;
    }

    static boolean kept(int group, int member) {
        return (group * GROUP + member) % KEEP_EVERY == 0;
    }

    static RecoveryStoreConfig config(Path dir) {
        // 8 MiB: memtables of 1 MiB, so a WAL is switched every few hundred requests (the segment
        // size means nothing to this store; the config only wants two of them under the cap)
        return RecoveryStoreConfig.defaults(dir).withSyncPolicy(SyncPolicy.INTERVAL)
                .withSyncInterval(Duration.ofMillis(5)).withSegmentSize(64 << 10).withMaxJournalBytes(8L << 20);
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        PrintStream out = new PrintStream(System.out, true);
        try (Journal store = Journal.open(new RocksDbStorageProvider(), config(dir))) {
            for (int g = 0; g < MAX_GROUPS; g++) {
                List<JournaledRequest> group = new ArrayList<>(GROUP);
                List<String> done = new ArrayList<>(GROUP);
                for (int m = 0; m < GROUP; m++) {
                    group.add(request(id(g, m), null, BODY_BYTES));
                    if (!kept(g, m)) {
                        done.add(id(g, m));
                    }
                }
                requireNoFailure(store.appendAll(group));
                requireNoFailure(store.completeAll(done, Collections.nCopies(done.size(), null)));
                out.println("ACK " + g);
            }
        }
        out.println("GAVE UP");
    }

    private static void requireNoFailure(List<RuntimeException> failures) {
        for (RuntimeException f : failures) {
            if (f != null) {
                throw f;
            }
        }
    }
}
