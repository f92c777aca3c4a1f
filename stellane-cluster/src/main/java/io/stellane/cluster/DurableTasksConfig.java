package io.stellane.cluster;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How one node runs durable tasks ({@link DurableTasks}). Immutable; start from {@link #defaults()}
 * and change what differs with the {@code with...} methods, each of which validates its value.
 *
 * @param queues       the queues this node runs, each with how many of its tasks may run at once
 *                     on this node; a node claims from no other queue
 * @param pollInterval how often the node looks for ready tasks without being told of new ones: a
 *                     submission wakes the nodes at once (LISTEN/NOTIFY); polling finds retries
 *                     whose backoff has passed, delayed tasks, and submissions whose notice was lost
 * @param maxAttempts  attempts of a task submitted without its own; then it is quarantined
 * @param backoffBase  the wait before the second attempt; it doubles with each attempt after that
 * @param backoffMax   the longest wait between two attempts
 * @param taskTimeout  an attempt not done by then fails with a {@link java.util.concurrent.TimeoutException}
 *                     and its task is cancelled
 * @param retention    how long a done task is kept: while it is, submitting its id again does nothing
 * @param closeTimeout how long {@link DurableTasks#close()} lets running tasks finish before it
 *                     cancels them and hands them back to the cluster
 * @param encryptionKey when not null, payloads are sealed with it (AES-GCM, bound to the task id)
 *                     before they reach the database, and opened when claimed: every node needs the
 *                     same key; use the journal's ({@code RecoveryStoreConfig.encryptionKey})
 */
public record DurableTasksConfig(Map<String, Integer> queues, Duration pollInterval, int maxAttempts,
                                 Duration backoffBase, Duration backoffMax, Duration taskTimeout,
                                 Duration retention, Duration closeTimeout,
                                 io.stellane.recovery.EncryptionKey encryptionKey) {
    /** The queue of a task submitted without one. */
    public static final String DEFAULT_QUEUE = "default";
    static final int MAX_NAME_LENGTH = 200;

    public DurableTasksConfig {
        Objects.requireNonNull(queues, "queues");
        if (queues.isEmpty()) {
            throw new IllegalArgumentException("queues is empty: a node runs at least one queue");
        }
        Map<String, Integer> copy = new LinkedHashMap<>();
        queues.forEach((name, concurrency) -> {
            checkName("queue name", name);
            if (concurrency == null || concurrency < 1 || concurrency > 10_000) {
                throw new IllegalArgumentException("concurrency of queue '" + name + "' is " + concurrency
                        + ": allowed is 1 to 10000 tasks at once on this node");
            }
            copy.put(name, concurrency);
        });
        queues = java.util.Collections.unmodifiableMap(copy);
        within("pollInterval", pollInterval, Duration.ofMillis(10), Duration.ofHours(1));
        if (maxAttempts < 1 || maxAttempts > 1_000) {
            throw new IllegalArgumentException("maxAttempts is " + maxAttempts + ": allowed is 1 to 1000");
        }
        within("backoffBase", backoffBase, Duration.ofMillis(1), Duration.ofDays(1));
        within("backoffMax", backoffMax, backoffBase, Duration.ofDays(7));
        within("taskTimeout", taskTimeout, Duration.ofMillis(10), Duration.ofDays(1));
        within("retention", retention, Duration.ofSeconds(1), Duration.ofDays(365));
        within("closeTimeout", closeTimeout, Duration.ZERO, Duration.ofHours(1));
    }

    /**
     * The queue {@value #DEFAULT_QUEUE} with 16 tasks at once, polling every second, 10 attempts,
     * backoff from 1 s doubling up to 5 min, attempts cut at 5 min, done tasks kept 24 h, 30 s to close.
     */
    public static DurableTasksConfig defaults() {
        return new DurableTasksConfig(Map.of(DEFAULT_QUEUE, 16), Duration.ofSeconds(1), 10, Duration.ofSeconds(1),
                Duration.ofMinutes(5), Duration.ofMinutes(5), Duration.ofHours(24), Duration.ofSeconds(30), null);
    }

    /** Runs queue {@code name} too, at most {@code concurrency} of its tasks at once on this node (or changes its limit). */
    public DurableTasksConfig withQueue(String name, int concurrency) {
        Map<String, Integer> q = new LinkedHashMap<>(queues);
        q.put(name, concurrency);
        return new DurableTasksConfig(q, pollInterval, maxAttempts, backoffBase, backoffMax, taskTimeout, retention,
                closeTimeout, encryptionKey);
    }

    /** Runs exactly these queues (the default one only if it is among them). */
    public DurableTasksConfig withQueues(Map<String, Integer> queues) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, backoffBase, backoffMax, taskTimeout,
                retention, closeTimeout, encryptionKey);
    }

    public DurableTasksConfig withPollInterval(Duration v) {
        return new DurableTasksConfig(queues, v, maxAttempts, backoffBase, backoffMax, taskTimeout, retention, closeTimeout, encryptionKey);
    }

    public DurableTasksConfig withMaxAttempts(int v) {
        return new DurableTasksConfig(queues, pollInterval, v, backoffBase, backoffMax, taskTimeout, retention, closeTimeout, encryptionKey);
    }

    /** Waits of {@code base}, {@code 2 base}, {@code 4 base} ... at most {@code max}, each varied by up to 20 % either way. */
    public DurableTasksConfig withBackoff(Duration base, Duration max) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, base, max, taskTimeout, retention, closeTimeout, encryptionKey);
    }

    public DurableTasksConfig withTaskTimeout(Duration v) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, backoffBase, backoffMax, v, retention, closeTimeout, encryptionKey);
    }

    public DurableTasksConfig withRetention(Duration v) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, backoffBase, backoffMax, taskTimeout, v, closeTimeout, encryptionKey);
    }

    public DurableTasksConfig withCloseTimeout(Duration v) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, backoffBase, backoffMax, taskTimeout, retention, v, encryptionKey);
    }

    /** Seals payloads with {@code key} (null: stored as given). */
    public DurableTasksConfig withEncryptionKey(io.stellane.recovery.EncryptionKey key) {
        return new DurableTasksConfig(queues, pollInterval, maxAttempts, backoffBase, backoffMax, taskTimeout, retention,
                closeTimeout, key);
    }

    /**
     * The wait after failed attempt {@code attempt} (1 for the first): {@code backoffBase * 2^(attempt-1)},
     * times {@code 0.8 + 0.4 * random} so that tasks failing together do not retry together, at most
     * {@code backoffMax}.
     */
    Duration backoff(int attempt, double random) {
        double base = backoffBase.toNanos() * Math.pow(2, Math.min(Math.max(attempt, 1) - 1, 62));
        double jittered = Math.min(base, backoffMax.toNanos()) * (0.8 + 0.4 * random);
        return Duration.ofNanos((long) Math.min(jittered, backoffMax.toNanos()));
    }

    static void checkName(String what, String name) {
        if (name == null || name.isBlank() || name.length() > MAX_NAME_LENGTH) {
            throw new IllegalArgumentException(what + " is " + (name == null ? "null" : "'" + name + "'")
                    + ": allowed is 1 to " + MAX_NAME_LENGTH + " characters, not all blank");
        }
    }

    private static void within(String name, Duration value, Duration min, Duration max) {
        Objects.requireNonNull(value, name);
        if (value.compareTo(min) < 0 || value.compareTo(max) > 0) {
            throw new IllegalArgumentException(name + " is " + value + ": allowed is " + min + " to " + max);
        }
    }
}
