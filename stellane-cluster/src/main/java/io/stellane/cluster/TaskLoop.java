package io.stellane.cluster;

import com.zaxxer.hikari.HikariDataSource;
import io.stellane.logging.LogThrottle;
import io.stellane.recovery.RecoveryException;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import io.stellane.task.TaskExecutionException;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The engine under {@link DurableTasks}: claims, runs and settles one node's durable tasks.
 *
 * <h2>How it works</h2>
 * One platform thread (the loop) does all the database work of running tasks; handlers run on the
 * runtime's workers and only hand their outcome back through a queue, so no worker ever waits on
 * the database. Each turn of the loop:
 * <ol>
 * <li>writes the outcomes that arrived (one transaction for all of them) and frees their places;</li>
 * <li>every half lease: takes back the tasks of nodes whose lease expired, deletes done tasks past
 *     their retention and samples how many are ready;</li>
 * <li>claims, for each queue with free places, up to that many ready tasks, and schedules each on
 *     the runtime. It claims every queue after a notification, a poll interval or a take-back; after
 *     a completion only the queues whose last claim was full, so an idle queue costs no query per
 *     completion;</li>
 * <li>waits for the next outcome, notification or poll.</li>
 * </ol>
 * A virtual thread holds a LISTEN connection and turns each notification (a submission somewhere
 * in the cluster) into a wake-up of the loop. The loop claims nothing while the runtime is not
 * running, no handler is registered, or the node reports a fault (its lease could not be renewed,
 * or its name was taken by another process); the claim itself also checks the lease in the
 * database's clock. Outcomes that cannot be written (the database is away) are kept and written
 * again each poll; their places stay taken meanwhile.
 *
 * <p>Closing stops the claims, lets running attempts finish for {@code closeTimeout}, cancels those
 * still running, and hands every unfinished attempt back as ready with its attempt uncounted.
 */
final class TaskLoop {
    private static final Logger log = LoggerFactory.getLogger(DurableTasks.class);
    private static final Object WAKE = new Object();
    /** How long the listener waits for a notification at a time: the longest it takes to notice a close. */
    private static final int LISTEN_WAIT_MS = 250;
    /** After cancelling at close, how long attempts get to report before they are handed back regardless. */
    private static final long CANCEL_GRACE_NANOS = TimeUnit.SECONDS.toNanos(2);

    /** One claimed attempt on this node. */
    private static final class Run {
        final TaskTable.Claimed task;
        final AtomicBoolean reported = new AtomicBoolean();
        volatile Task<?> cancelTarget;

        Run(TaskTable.Claimed task) {
            this.task = task;
        }
    }

    /** An attempt's end, as a handler's task reports it; {@code release}: hand it back unrun. */
    private record Done(Run run, Throwable error, boolean release) {
    }

    final ClusterNode node;
    final StellaneRuntime runtime;
    final DurableTasksConfig config;
    final HikariDataSource pool;
    final TaskTable table;
    final Map<String, DurableTaskHandler> handlers = new ConcurrentHashMap<>();
    final List<DurableTasks.Listener> listeners = new CopyOnWriteArrayList<>();
    final LongAdder submitted = new LongAdder();
    final LongAdder claimed = new LongAdder();
    final LongAdder completed = new LongAdder();
    final LongAdder failedAttempts = new LongAdder();
    final LongAdder quarantined = new LongAdder();
    volatile long ready = -1;

    private final LinkedBlockingQueue<Object> signals = new LinkedBlockingQueue<>();
    private final Set<Run> running = ConcurrentHashMap.newKeySet();
    private final LogThrottle throttle = new LogThrottle(Duration.ofSeconds(10));
    // confined to the loop thread
    private final Map<String, Integer> runningByQueue = new HashMap<>();
    private final Map<String, Boolean> backlog = new HashMap<>();
    /** Signals taken from the queue and not yet handled. */
    private final ArrayDeque<Object> got = new ArrayDeque<>();
    private final List<TaskTable.Outcome> unwritten = new ArrayList<>();
    private final List<Run> unwrittenRuns = new ArrayList<>();
    private boolean cancelledAtClose;

    private final Thread loopThread;
    private final Thread listenThread;
    private volatile boolean closing;
    private volatile boolean crashed;

    TaskLoop(ClusterNode node, StellaneRuntime runtime, DurableTasksConfig config, HikariDataSource pool, TaskTable table) {
        this.node = node;
        this.runtime = runtime;
        this.config = config;
        this.pool = pool;
        this.table = table;
        this.loopThread = Thread.ofPlatform().daemon().name("stellane-durable-tasks-" + node.id()).unstarted(this::loop);
        this.listenThread = Thread.ofVirtual().name("stellane-durable-listen-" + node.id()).unstarted(this::listen);
    }

    void start() {
        loopThread.start();
        listenThread.start();
    }

    /** Makes the loop look at every queue now (a handler was registered). */
    void wake() {
        signals.add(WAKE);
    }

    int running() {
        return running.size();
    }

    void emit(Consumer<DurableTasks.Listener> event) {
        for (DurableTasks.Listener l : listeners) {
            try {
                event.accept(l);
            } catch (RuntimeException e) {
                throttle.warn(log, "listener", "a durable-task listener failed: " + e, e);
            }
        }
    }

    // ---------------------------------------------------------------- the loop

    private void loop() {
        while (!crashed) {
            try {
                turns();
                return;
            } catch (RuntimeException e) {
                // a bug or a listener that threw past its guard: the loop goes on, or the node would stop running tasks
                throttle.error(log, "loop", "durable tasks of node " + node.id() + ": unexpected failure, going on", e);
                LockSupport.parkNanos(config.pollInterval().toNanos());
            }
        }
    }

    private void turns() {
        long maintenanceNanos = Math.max(node.lease().toNanos() / 2, TimeUnit.MILLISECONDS.toNanos(100));
        long nextMaintenance = System.nanoTime();
        long closeDeadline = 0;
        boolean claimAll = true;
        while (!crashed) {
            for (Object o; (o = got.pollFirst()) != null; ) {
                if (o == WAKE) {
                    claimAll = true;
                } else {
                    Done d = (Done) o;
                    unwritten.add(outcome(d));
                    unwrittenRuns.add(d.run());
                }
            }
            if (crashed) {
                return;
            }
            writeOutcomes();
            long now = System.nanoTime();
            long wait;
            if (closing) {
                if (closeDeadline == 0) {
                    closeDeadline = now + config.closeTimeout().toNanos();
                }
                if (running.isEmpty()) {
                    return;
                }
                if (!cancelledAtClose && now - closeDeadline >= 0) {
                    cancelAll();
                    closeDeadline = now + CANCEL_GRACE_NANOS;
                } else if (cancelledAtClose && now - closeDeadline >= 0) {
                    if (!unwritten.isEmpty()) {
                        log.warn("durable tasks of node {}: {} attempts could not be handed back at close; other nodes"
                                + " take them once this node's lease expires", node.id(), running.size());
                        return;
                    }
                    // attempts that ignored the cancellation: handed back all the same
                    running.forEach(r -> report(r, null, true));
                    closeDeadline = now + CANCEL_GRACE_NANOS;
                }
                wait = Math.min(TimeUnit.MILLISECONDS.toNanos(50), Math.max(0, closeDeadline - now));
            } else {
                if (now - nextMaintenance >= 0) {
                    claimAll |= maintain();
                    nextMaintenance = now + maintenanceNanos;
                }
                if (unwritten.isEmpty()) {
                    claim(claimAll);
                }
                claimAll = false;
                wait = Math.min(config.pollInterval().toNanos(), Math.max(0, nextMaintenance - System.nanoTime()));
            }
            try {
                Object first = signals.poll(wait, TimeUnit.NANOSECONDS);
                if (first == null) {
                    claimAll = true; // a poll interval passed: look at every queue
                } else {
                    got.add(first);
                    signals.drainTo(got);
                }
            } catch (InterruptedException e) {
                if (crashed) {
                    return;
                }
            }
        }
    }

    /** The outcome to write for a reported attempt. */
    private TaskTable.Outcome outcome(Done d) {
        TaskTable.Claimed t = d.run().task;
        Throwable error = unwrap(d.error());
        if (d.release() || cancelledAtClose && error instanceof CancellationException) {
            return new TaskTable.Outcome(t, TaskTable.Kind.RELEASE, 0, null);
        }
        if (error == null) {
            return new TaskTable.Outcome(t, TaskTable.Kind.DONE, 0, null);
        }
        String reason = error.toString();
        if (t.attempt() >= t.maxAttempts()) {
            return new TaskTable.Outcome(t, TaskTable.Kind.QUARANTINE, 0, reason);
        }
        long delay = config.backoff(t.attempt(), ThreadLocalRandom.current().nextDouble()).toMillis();
        return new TaskTable.Outcome(t, TaskTable.Kind.RETRY, delay, reason);
    }

    private void writeOutcomes() {
        if (unwritten.isEmpty()) {
            return;
        }
        boolean[] written;
        try (Connection c = pool.getConnection()) {
            written = table.finish(c, unwritten);
        } catch (SQLException | RuntimeException e) {
            throttle.warn(log, "finish", "durable tasks of node " + node.id() + " cannot record " + unwritten.size()
                    + " outcomes (kept, written again at the next poll): " + ClusterNode.rootMessage(e), null);
            return;
        }
        for (int i = 0; i < written.length; i++) {
            TaskTable.Outcome o = unwritten.get(i);
            settled(unwrittenRuns.get(i), o, written[i]);
        }
        unwritten.clear();
        unwrittenRuns.clear();
    }

    private void settled(Run run, TaskTable.Outcome o, boolean written) {
        if (!running.remove(run)) {
            return; // settled already, before a failure cut the turn short
        }
        runningByQueue.merge(o.task().queue(), -1, Integer::sum);
        TaskTable.Claimed t = o.task();
        if (!written) {
            throttle.warn(log, "fenced", t + " was taken back from node " + node.id()
                    + " before its outcome was recorded (the node's lease had expired): another attempt runs it", null);
            return;
        }
        switch (o.kind()) {
            case DONE -> {
                completed.increment();
                emit(DurableTasks.Listener::completed);
            }
            case RETRY -> {
                failedAttempts.increment();
                emit(DurableTasks.Listener::failedAttempt);
                throttle.warn(log, "attempt:" + t.name(), t + " failed, next attempt in " + o.delayMillis() + " ms: "
                        + o.error(), null);
            }
            case QUARANTINE -> {
                failedAttempts.increment();
                quarantined.increment();
                emit(DurableTasks.Listener::failedAttempt);
                emit(DurableTasks.Listener::quarantined);
                throttle.error(log, "quarantine:" + t.name(), t + " failed its last attempt and is quarantined: "
                        + o.error(), null);
            }
            case RELEASE -> { }
        }
    }

    /** Takes back what dead nodes left running, purges old done tasks, samples the ready count; true if any was taken back. */
    private boolean maintain() {
        boolean reaped = false;
        try (Connection c = pool.getConnection()) {
            for (int round = 0; round < 10; round++) {
                int[] r = table.reap(c, node.lease().toMillis());
                reaped |= r[0] > 0;
                if (r[1] > 0) {
                    quarantined.add(r[1]);
                    for (int i = 0; i < r[1]; i++) {
                        emit(DurableTasks.Listener::quarantined);
                    }
                    throttle.error(log, "reap-quarantine", r[1] + " durable tasks were quarantined: their node died"
                            + " during their last attempt", null);
                }
                if (r[0] + r[1] > 0) {
                    log.info("node {} took back {} durable tasks left running by nodes that stopped", node.id(), r[0] + r[1]);
                }
                if (r[0] + r[1] < TaskTable.BATCH) {
                    break;
                }
            }
            for (int round = 0; round < 10 && table.purge(c, config.retention().toMillis()) == TaskTable.BATCH; round++) {
                // a backlog of done tasks goes in a few rounds, never all in one statement
            }
            ready = table.countReady(c);
        } catch (SQLException | RuntimeException e) {
            throttle.warn(log, "maintain", "durable tasks of node " + node.id() + " cannot take back dead nodes' tasks: "
                    + ClusterNode.rootMessage(e), null);
        }
        return reaped;
    }

    private void claim(boolean all) {
        if (handlers.isEmpty() || !runtime.isRunning()) {
            return;
        }
        Optional<RecoveryException> fault = node.fault();
        if (fault.isPresent()) {
            throttle.warn(log, "fault", "durable tasks of node " + node.id() + " claim nothing: "
                    + fault.get().getMessage(), null);
            return;
        }
        String[] names = handlers.keySet().toArray(String[]::new);
        Connection c = null;
        try {
            for (Map.Entry<String, Integer> q : config.queues().entrySet()) {
                String queue = q.getKey();
                if (!all && !backlog.getOrDefault(queue, false)) {
                    continue;
                }
                int free = q.getValue() - runningByQueue.getOrDefault(queue, 0);
                if (free <= 0) {
                    backlog.put(queue, true); // full: something may wait, look again when a place frees
                    continue;
                }
                if (c == null) {
                    c = pool.getConnection();
                }
                List<TaskTable.Claimed> taken = table.claim(c, queue, names, free);
                backlog.put(queue, taken.size() == free);
                for (TaskTable.Claimed t : taken) {
                    dispatch(t);
                }
            }
        } catch (SQLException | RuntimeException e) {
            throttle.warn(log, "claim", "durable tasks of node " + node.id() + " cannot claim: "
                    + ClusterNode.rootMessage(e), null);
        } finally {
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException e) {
                    // the pool discards it
                }
            }
        }
    }

    private void dispatch(TaskTable.Claimed t) {
        Run run = new Run(t);
        running.add(run);
        runningByQueue.merge(t.queue(), 1, Integer::sum);
        claimed.increment();
        emit(DurableTasks.Listener::claimed);
        DurableTaskHandler handler = handlers.get(t.name());
        Task<Void> job = Task.of(() -> start(run, handler)).named("durable " + t.name());
        run.cancelTarget = job;
        try {
            runtime.schedule(job);
        } catch (RuntimeException e) {
            report(run, null, true); // the runtime stopped under us: the attempt never began
        }
    }

    /** On a worker: runs the handler and has its task report the outcome. */
    private void start(Run run, DurableTaskHandler handler) {
        Task<?> attempt;
        try {
            attempt = handler.handle(run.task);
            if (attempt == null) {
                throw new NullPointerException("the handler of '" + run.task.name() + "' returned null, not a Task");
            }
        } catch (Throwable e) {
            report(run, e, false);
            return;
        }
        Task<?> limited = attempt.timeout(config.taskTimeout());
        run.cancelTarget = limited;
        limited.onComplete((v, e) -> report(run, e, false));
    }

    private void report(Run run, Throwable error, boolean release) {
        if (run.reported.compareAndSet(false, true)) {
            signals.add(new Done(run, error, release));
        }
    }

    private void cancelAll() {
        cancelledAtClose = true;
        int n = running.size();
        if (n > 0) {
            log.warn("durable tasks of node {}: {} attempts still run after {}; cancelling them and handing them back",
                    node.id(), n, config.closeTimeout());
        }
        for (Run r : running) {
            Task<?> t = r.cancelTarget;
            if (t != null) {
                t.cancel();
            }
        }
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException || e instanceof TaskExecutionException)
                && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    // ---------------------------------------------------------------- notifications

    /** Holds a LISTEN connection; every notification, and every (re)connection, wakes the loop. */
    private void listen() {
        String listen = "LISTEN \"" + table.channel().replace("\"", "\"\"") + "\"";
        while (!closing && !crashed) {
            try (Connection c = pool.getConnection()) {
                try (Statement st = c.createStatement()) {
                    st.execute(listen);
                }
                signals.add(WAKE); // what was submitted while not listening is found now
                PGConnection pg = c.unwrap(PGConnection.class);
                while (!closing && !crashed) {
                    PGNotification[] n = pg.getNotifications(LISTEN_WAIT_MS);
                    if (n != null && n.length > 0) {
                        signals.add(WAKE);
                    }
                }
                try (Statement st = c.createStatement()) {
                    st.execute("UNLISTEN *"); // the connection goes back to the pool
                }
            } catch (SQLException | RuntimeException e) {
                if (closing || crashed) {
                    return;
                }
                throttle.warn(log, "listen", "durable tasks of node " + node.id() + " cannot listen for submissions"
                        + " (polling every " + config.pollInterval().toMillis() + " ms meanwhile): "
                        + ClusterNode.rootMessage(e), null);
                try {
                    Thread.sleep(config.pollInterval().toMillis());
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    // ---------------------------------------------------------------- stopping

    /** Stops claiming, lets running attempts finish (see the class doc), then stops the threads. */
    void close() {
        closing = true;
        signals.add(WAKE);
        join(loopThread, config.closeTimeout().plus(Duration.ofSeconds(10)));
        join(listenThread, Duration.ofSeconds(2));
        if (listenThread.isAlive()) {
            listenThread.interrupt();
            join(listenThread, Duration.ofSeconds(2));
        }
    }

    /** What a killed process leaves behind, for tests: the threads stop, nothing more is written. */
    void crash() {
        crashed = true;
        loopThread.interrupt();
        listenThread.interrupt();
        join(loopThread, Duration.ofSeconds(5));
        join(listenThread, Duration.ofSeconds(5));
    }

    private static void join(Thread t, Duration limit) {
        try {
            t.join(limit);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
