package io.stellane.cluster;

import com.zaxxer.hikari.HikariDataSource;
import io.stellane.recovery.RecoveryException;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * Tasks that outlive the process that submitted them: kept in the cluster's PostgreSQL
 * ({@code stellane_task}) and run by whichever node has a free place, retried with backoff, and
 * quarantined after their last attempt. docs/DURABLE-TASKS.md has the whole model.
 *
 * <pre>{@code
 * ClusterNode node = ClusterNode.join(settings);
 * DurableTasks tasks = DurableTasks.open(node, runtime, DurableTasksConfig.defaults().withQueue("mail", 4));
 * tasks.register("send-receipt", task -> Task.blocking(() -> {
 *     mail.sendOnce(task.id(), task.payloadString());   // its effect keyed by the task id
 *     return null;
 * }));
 * tasks.submit(Submission.of("send-receipt", orderId).id("receipt-" + orderId).queue("mail")).await();
 * }</pre>
 *
 * <p>Every node registers the handlers of the task names it runs; a node claims only tasks of names
 * it has a handler for, from the queues of its config, at most each queue's concurrency at once.
 * Handlers run on the runtime's workers as tasks; all database work runs on a thread of this
 * object's own and on virtual threads. A task runs at least once, and more than once only when a
 * node stopped or lost its lease while running it, or an attempt failed: give its effects the
 * task id as a unique key (see {@link DurableTaskHandler}). The task id is also the submission's
 * idempotency key: a second submission with an id already there, running, done (within
 * {@link DurableTasksConfig#retention()}) or quarantined, does nothing.
 *
 * <p>The runtime need not run yet: tasks are claimed while it runs. Close this before the runtime
 * stops, and before its node.
 *
 * <p>Threading: thread-safe. {@code submit} and {@code submitAll} never block: they return a started
 * task (await it off the workers, or compose it). {@link #open} and {@link #close} block on the
 * database; call them from start-up and shutdown code, never from a worker.
 */
public final class DurableTasks implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DurableTasks.class);

    private final ClusterNode node;
    private final DurableTasksConfig config;
    private final HikariDataSource pool;
    private final TaskTable table;
    private final TaskLoop loop;
    private volatile boolean closed;

    private DurableTasks(ClusterNode node, StellaneRuntime runtime, DurableTasksConfig config) {
        this.node = node;
        this.config = config;
        this.pool = ClusterNode.pool(node.settings(), "stellane-tasks-" + node.id(), 6, null);
        try (Connection c = pool.getConnection()) {
            String fingerprint = config.encryptionKey() == null ? "none" : config.encryptionKey().fingerprint();
            String stored = Schema.settle(c, "task_key_fingerprint", fingerprint);
            if (!stored.equals(fingerprint)) {
                throw new RecoveryException("the durable tasks at " + node.settings().url() + " were written "
                        + (stored.equals("none") ? "without an encryption key" : "with the key of fingerprint " + stored)
                        + ", and this node has " + (fingerprint.equals("none") ? "none" : "fingerprint " + fingerprint)
                        + ": every node needs the same key (DurableTasksConfig.withEncryptionKey)");
            }
            this.table = new TaskTable(node.id(), node.epoch(), TaskTable.channel(c), config.encryptionKey());
        } catch (SQLException | RuntimeException e) {
            pool.close();
            throw e instanceof RecoveryException re ? re : ClusterNode.unreachable(node.settings(), e);
        }
        this.loop = new TaskLoop(node, runtime, config, pool, table);
        loop.start();
        log.info("node {} runs durable tasks of queues {}", node.id(), config.queues());
    }

    /** {@link #open(ClusterNode, StellaneRuntime, DurableTasksConfig)} with {@link DurableTasksConfig#defaults()}. */
    public static DurableTasks open(ClusterNode node, StellaneRuntime runtime) {
        return open(node, runtime, DurableTasksConfig.defaults());
    }

    /**
     * Starts running durable tasks on {@code node}: claiming (once handlers are registered and the
     * runtime runs), taking back what dead nodes left running, purging done tasks.
     *
     * @throws RecoveryException when the database cannot be reached (the message names its url)
     */
    public static DurableTasks open(ClusterNode node, StellaneRuntime runtime, DurableTasksConfig config) {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(runtime, "runtime");
        Objects.requireNonNull(config, "config");
        return new DurableTasks(node, runtime, config);
    }

    /**
     * Runs the tasks named {@code name} on this node with {@code handler}, from now on. Each node
     * registers the names it runs; a task waits until some node has its handler.
     *
     * @throws IllegalArgumentException when the name is blank or longer than 200 characters
     * @throws IllegalStateException    when {@code name} has a handler already, or this is closed
     */
    public DurableTasks register(String name, DurableTaskHandler handler) {
        DurableTasksConfig.checkName("task name", name);
        Objects.requireNonNull(handler, "handler");
        checkOpen();
        if (loop.handlers.putIfAbsent(name, handler) != null) {
            throw new IllegalStateException("durable task '" + name + "' has a handler on node " + node.id() + " already");
        }
        loop.wake();
        return this;
    }

    /** Submits a task of {@code name} with a random id into the default queue; the task yields the id. */
    public Task<String> submit(String name, byte[] payload) {
        return submit(Submission.of(name, payload));
    }

    /**
     * Submits a task of {@code name} with id {@code taskId}; if a task with that id exists (ready,
     * running, done within the retention, or quarantined), nothing happens. The task yields the id.
     */
    public Task<String> submit(String name, byte[] payload, String taskId) {
        return submit(Submission.of(name, payload).id(taskId));
    }

    /** Submits one task as {@code submission} describes; the returned task (already started) yields its id. */
    public Task<String> submit(Submission submission) {
        Objects.requireNonNull(submission, "submission");
        return submitAll(List.of(submission)).map(List::getFirst);
    }

    /**
     * Submits tasks in one transaction (one round trip for the lot); the returned task (already
     * started) yields their ids in order. Ids that exist already add nothing.
     *
     * @throws IllegalStateException when this is closed
     */
    public Task<List<String>> submitAll(List<Submission> submissions) {
        List<TaskTable.NewTask> rows = new ArrayList<>(submissions.size());
        for (Submission s : submissions) {
            Objects.requireNonNull(s, "submission");
            rows.add(new TaskTable.NewTask(s.id == null ? UUID.randomUUID().toString() : s.id, s.name, s.queue, s.payload,
                    s.maxAttempts == 0 ? config.maxAttempts() : s.maxAttempts, s.delay.toMillis(), s.runAt));
        }
        checkOpen();
        List<String> ids = rows.stream().map(TaskTable.NewTask::id).toList();
        if (rows.isEmpty()) {
            return Task.completed(ids);
        }
        return Task.blocking(() -> {
            boolean[] inserted;
            try (Connection c = pool.getConnection()) {
                inserted = table.insert(c, rows);
            } catch (SQLException e) {
                throw new RecoveryException("cannot submit durable tasks to " + node.settings().url() + ": "
                        + ClusterNode.rootMessage(e), e);
            }
            for (boolean added : inserted) {
                if (added) {
                    loop.submitted.increment();
                    loop.emit(Listener::submitted);
                }
            }
            return ids;
        }).named("durable submit").start();
    }

    /** What this node did since it opened, and what runs and waits now. Cheap: no database call. */
    public DurableTaskStats stats() {
        return new DurableTaskStats(loop.submitted.sum(), loop.claimed.sum(), loop.completed.sum(),
                loop.failedAttempts.sum(), loop.quarantined.sum(), loop.running(), loop.ready);
    }

    /** Tells {@code listener} of what this node does from now on (how metrics are fed). */
    public void addListener(Listener listener) {
        loop.listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** The node these tasks run on. */
    public ClusterNode node() {
        return node;
    }

    public DurableTasksConfig config() {
        return config;
    }

    /**
     * Stops claiming, lets running attempts finish for {@link DurableTasksConfig#closeTimeout()},
     * cancels the rest and hands them back to the cluster (ready at once, the attempt uncounted).
     * Idempotent. Leaves the node open.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        loop.close();
        pool.close();
        log.info("node {} stopped running durable tasks", node.id());
    }

    /** What a killed process leaves behind, for tests: nothing more is written, running rows stay running. */
    void crash() {
        closed = true;
        loop.crash();
        pool.close();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the durable tasks of node " + node.id() + " are closed");
        }
    }

    @Override
    public String toString() {
        return "DurableTasks[node " + node.id() + ", queues " + config.queues() + "]";
    }

    /**
     * Told of what one node's durable tasks do, one call per task, on the thread that did it (the
     * claiming thread, or a submitter's virtual thread): return quickly and never block.
     */
    public interface Listener {
        /** A task was added by this node. */
        default void submitted() {
        }

        /** This node took an attempt. */
        default void claimed() {
        }

        /** A task's handler succeeded here and the task is done. */
        default void completed() {
        }

        /** An attempt failed here (it is retried, or the task quarantined). */
        default void failedAttempt() {
        }

        /** A task was quarantined: it failed its last attempt here, or its node died during it. */
        default void quarantined() {
        }
    }

    /**
     * One task to submit: its name and payload, and optionally its id, queue, attempts and start.
     * Immutable: each method returns a new submission, and checks its value at once.
     */
    public static final class Submission {
        private final String name;
        private final byte[] payload;
        private final String id;
        private final String queue;
        private final int maxAttempts;
        private final Duration delay;
        private final Instant runAt;

        private Submission(String name, byte[] payload, String id, String queue, int maxAttempts, Duration delay,
                           Instant runAt) {
            this.name = name;
            this.payload = payload;
            this.id = id;
            this.queue = queue;
            this.maxAttempts = maxAttempts;
            this.delay = delay;
            this.runAt = runAt;
        }

        /**
         * A task of {@code name} with {@code payload} (copied): a random id, the default queue, the
         * node's {@link DurableTasksConfig#maxAttempts()}, due now.
         */
        public static Submission of(String name, byte[] payload) {
            DurableTasksConfig.checkName("task name", name);
            Objects.requireNonNull(payload, "payload");
            return new Submission(name, payload.clone(), null, DurableTasksConfig.DEFAULT_QUEUE, 0, Duration.ZERO, null);
        }

        /** {@link #of(String, byte[])} with {@code payload} as UTF-8. */
        public static Submission of(String name, String payload) {
            return of(name, Objects.requireNonNull(payload, "payload").getBytes(StandardCharsets.UTF_8));
        }

        /** The task's id and idempotency key (at most 200 characters). */
        public Submission id(String id) {
            DurableTasksConfig.checkName("task id", id);
            return new Submission(name, payload, id, queue, maxAttempts, delay, runAt);
        }

        /** The queue it runs in: only nodes running that queue claim it. */
        public Submission queue(String queue) {
            DurableTasksConfig.checkName("queue name", queue);
            return new Submission(name, payload, id, queue, maxAttempts, delay, runAt);
        }

        /** Attempts before it is quarantined, 1 to 1000. */
        public Submission maxAttempts(int maxAttempts) {
            if (maxAttempts < 1 || maxAttempts > 1_000) {
                throw new IllegalArgumentException("maxAttempts is " + maxAttempts + ": allowed is 1 to 1000");
            }
            return new Submission(name, payload, id, queue, maxAttempts, delay, runAt);
        }

        /** Due {@code delay} after it is stored, in the database's clock. */
        public Submission delay(Duration delay) {
            if (Objects.requireNonNull(delay, "delay").isNegative()) {
                throw new IllegalArgumentException("delay is " + delay + ": allowed is zero or more");
            }
            return new Submission(name, payload, id, queue, maxAttempts, delay, null);
        }

        /** Due at {@code time} (replaces a delay); a time past is due at once. */
        public Submission runAt(Instant time) {
            return new Submission(name, payload, id, queue, maxAttempts, Duration.ZERO, Objects.requireNonNull(time, "time"));
        }

        @Override
        public String toString() {
            return "Submission[" + name + (id == null ? "" : ", id " + id) + ", queue " + queue + ", "
                    + payload.length + " bytes" + (runAt != null ? ", at " + runAt : delay.isZero() ? "" : ", in " + delay) + "]";
        }
    }
}
