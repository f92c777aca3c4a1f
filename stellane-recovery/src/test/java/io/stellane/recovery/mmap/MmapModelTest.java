package io.stellane.recovery.mmap;

import io.stellane.recovery.Journal;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.testing.TestRequests;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

import static io.stellane.recovery.testing.TestRequests.crashCopy;
import static io.stellane.recovery.testing.TestRequests.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Model-based randomized test: random appends, completions, attempts, quarantines, custom data,
 * clean reopens, crashes (a copy of the live directory) and torn tails, checked against an
 * in-memory model. After a reopen or crash the recovered state must equal the model; after a torn
 * tail it must equal the model after some prefix of the operations, which then becomes the model.
 * Each run prints its seed in the failure message; rerun with that seed to reproduce.
 */
class MmapModelTest {
    private static final int MAX_ATTEMPTS = 3;

    @TempDir
    Path tmp;
    private Journal store;

    static Stream<Arguments> runs() {
        long random = System.nanoTime();
        return Stream.of(
                Arguments.of("rolls", 1L), Arguments.of("rolls", 2L), Arguments.of("rolls", random),
                Arguments.of("torn-tails", 1L), Arguments.of("torn-tails", 2L), Arguments.of("torn-tails", random));
    }

    @AfterEach
    void close() {
        if (store != null) {
            store.close();
        }
    }

    private sealed interface Op {
    }

    private record Append(JournaledRequest request) implements Op {
    }

    private record Complete(String id, StoredResponse response) implements Op {
    }

    private record Attempt(String id, String reason) implements Op {
    }

    private record Quarantine(String id, String reason) implements Op {
    }

    private record Custom(String id, String key, String value) implements Op {
    }

    private static final class Entry {
        final JournaledRequest request;
        int attempts;
        String lastFailure;
        final Map<String, String> custom = new TreeMap<>();
        String quarantine;

        Entry(JournaledRequest request) {
            this.request = request;
        }
    }

    private static final class Model {
        final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>();
        final Map<String, StoredResponse> idempotency = new TreeMap<>();

        void apply(Op op) {
            switch (op) {
                case Append a -> entries.put(a.request.requestId(), new Entry(a.request));
                case Complete c -> {
                    Entry e = entries.remove(c.id);
                    if (e.request.idempotencyKey() != null && c.response != null) {
                        idempotency.put(e.request.idempotencyKey(), c.response);
                    }
                }
                case Attempt a -> {
                    Entry e = entries.get(a.id);
                    if (e.attempts + 1 > MAX_ATTEMPTS) {
                        e.quarantine = "gave up after " + MAX_ATTEMPTS + " attempts; last failure: " + a.reason;
                    } else {
                        e.attempts++;
                        e.lastFailure = a.reason;
                    }
                }
                case Quarantine q -> entries.get(q.id).quarantine = q.reason;
                case Custom c -> entries.get(c.id).custom.put(c.key, c.value);
            }
        }

        static Model replay(List<Op> history, int n) {
            Model m = new Model();
            history.subList(0, n).forEach(m::apply);
            return m;
        }

        String render(Set<String> keys) {
            StringBuilder sb = new StringBuilder();
            entries.values().stream().filter(e -> e.quarantine == null).forEach(e -> sb.append("P ")
                    .append(e.request).append(' ').append(e.attempts).append(' ').append(e.lastFailure)
                    .append(' ').append(e.custom).append('\n'));
            entries.values().stream().filter(e -> e.quarantine != null).forEach(e -> sb.append("Q ")
                    .append(e.request.requestId()).append(' ').append(e.quarantine).append('\n'));
            for (String k : keys) {
                sb.append("I ").append(k).append(' ').append(Optional.ofNullable(idempotency.get(k))).append('\n');
            }
            return sb.toString();
        }
    }

    private static String render(Journal s, Set<String> keys) {
        StringBuilder sb = new StringBuilder();
        for (PendingRequest p : s.pending()) {
            sb.append("P ").append(p.request()).append(' ').append(p.attempts()).append(' ')
                    .append(p.lastFailureReason()).append(' ').append(new TreeMap<>(p.customData())).append('\n');
        }
        for (PendingRequest p : s.quarantined()) {
            sb.append("Q ").append(p.requestId()).append(' ').append(p.quarantineReason()).append('\n');
        }
        for (String k : keys) {
            sb.append("I ").append(k).append(' ').append(s.findByIdempotencyKey(k)).append('\n');
        }
        return sb.toString();
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("runs")
    void recoveredStateMatchesTheModel(String mode, long seed) throws Exception {
        boolean tornTails = mode.equals("torn-tails");
        Random random = new Random(seed);
        int maxSegments = 0;
        int generation = 0;
        Path dir = tmp.resolve("g0");
        RecoveryStoreConfig config = RecoveryStoreConfig.defaults(dir)
                .withSyncPolicy(SyncPolicy.NONE)
                .withSegmentSize(tornTails ? 1 << 20 : 16 * 1024) // torn tails: one segment, so history is a log
                .withMaxJournalBytes(64L << 20)
                .withMaxAttempts(MAX_ATTEMPTS)
                .withIdempotencyTtl(Duration.ofDays(1));
        store = JournalFiles.open(config);
        Model model = new Model();
        List<Op> history = new ArrayList<>();
        Set<String> keys = new LinkedHashSet<>();
        int next = 0;
        for (int step = 0; step < 400; step++) {
            String at = "seed " + seed + " (" + mode + "), step " + step;
            List<String> live = new ArrayList<>(model.entries.keySet());
            List<String> pending = model.entries.values().stream().filter(e -> e.quarantine == null)
                    .map(e -> e.request.requestId()).toList();
            int dice = random.nextInt(100);
            Op op = null;
            if (dice < 35 || live.isEmpty()) {
                String id = "q" + next++;
                String key = random.nextBoolean() ? "key-" + random.nextInt(40) : null;
                if (key != null) {
                    keys.add(key);
                }
                op = new Append(request(id, key, random.nextInt(300)));
            } else if (dice < 55) {
                String id = live.get(random.nextInt(live.size()));
                op = new Complete(id, random.nextBoolean() ? TestRequests.response("r" + id) : null);
            } else if (dice < 70 && !pending.isEmpty()) {
                op = new Attempt(pending.get(random.nextInt(pending.size())), "fail-" + step);
            } else if (dice < 75 && !pending.isEmpty()) {
                op = new Quarantine(pending.get(random.nextInt(pending.size())), "poison-" + step);
            } else if (dice < 85) {
                op = new Custom(live.get(random.nextInt(live.size())), "k" + random.nextInt(3), "v" + step);
            } else if (dice < 90) {
                store.close();
                store = JournalFiles.open(config);
                assertThat(render(store, keys)).as(at + " after reopen").isEqualTo(model.render(keys));
            } else if (dice < 95) {
                Path copy = crashCopy(dir, tmp.resolve("g" + ++generation));
                store.close();
                dir = copy;
                config = config.withPath(dir);
                store = JournalFiles.open(config);
                assertThat(render(store, keys)).as(at + " after crash").isEqualTo(model.render(keys));
            } else if (tornTails) {
                store.close();
                Path segment = JournalFiles.segments(dir).getLast();
                long end = JournalFiles.endOfData(segment);
                long cut = Segment.FILE_HEADER + (long) (random.nextDouble() * (end - Segment.FILE_HEADER + 1));
                long size = java.nio.file.Files.size(segment);
                JournalFiles.truncate(segment, cut);
                JournalFiles.write(segment, size - 1, new byte[1]); // a torn tail in a preallocated file
                String[] logged = new String[1];
                Journal[] reopened = new Journal[1];
                RecoveryStoreConfig c = config;
                logged[0] = JournalFiles.stderrOf(() -> reopened[0] = JournalFiles.open(c));
                store = reopened[0];
                String recovered = render(store, keys);
                int prefix = -1;
                for (int n = history.size(); n >= 0 && prefix < 0; n--) {
                    if (Model.replay(history, n).render(keys).equals(recovered)) {
                        prefix = n;
                    }
                }
                assertThat(prefix).as(at + ": state after a cut at %d is no prefix of the history", cut)
                        .isNotNegative();
                history = new ArrayList<>(history.subList(0, prefix));
                model = Model.replay(history, prefix);
            }
            if (op != null) {
                switch (op) {
                    case Append a -> store.append(a.request);
                    case Complete c -> store.complete(c.id, c.response);
                    case Attempt a -> store.recordAttempt(a.id, a.reason);
                    case Quarantine q -> store.quarantine(q.id, q.reason);
                    case Custom c -> store.putCustomData(c.id, Map.of(c.key, c.value));
                }
                model.apply(op);
                history.add(op);
                maxSegments = Math.max(maxSegments, store.stats().segments());
            }
        }
        store.close();
        store = JournalFiles.open(config);
        assertThat(render(store, keys)).as("seed " + seed + " (" + mode + ") at the end").isEqualTo(model.render(keys));
        if (!tornTails) {
            // compaction may leave one segment at the end; what matters is that rolls happened on the way
            assertThat(maxSegments).as("seed %d: the journal rolled", seed).isGreaterThan(1);
        }
    }
}
