package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.IoBackend;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import io.stellane.task.WorkerThread;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Finds workers whose thread is held by one piece of work (a busy loop, a blocking call) and says
 * where: the worker's stack, logged at WARN, counted in {@code stellane_workers_blocked_total}.
 *
 * <pre>{@code
 * BlockedWorkerDetector detector = BlockedWorkerDetector.builder()
 *         .threshold(Duration.ofMillis(500)).meterRegistry(metrics.registry()).start();
 * }</pre>
 *
 * <h2>How it works</h2>
 * A daemon platform thread ({@code stellane-blocked-worker-detector}) wakes every
 * {@code checkInterval}. For each worker with no probe outstanding it posts a no-op probe: on the
 * built-in backends through the worker's Netty loop ({@code IoBackend.ioEventLoop().execute}, which
 * does not count as a task), on others as a task pinned to the worker. A probe still waiting after
 * {@code threshold} means the worker has not come back to its loop: the worker is blocked. Each
 * such episode is counted once; reports (log line and {@code onBlocked} callback) are rate-limited
 * to one per worker per {@code reportInterval}, and repeat while the episode lasts, each with a
 * fresh stack. A probe waits behind the work already queued, so a worker with a very long queue of
 * short tasks also shows as blocked: that worker is not responsive either.
 *
 * <p>The detector follows its runtime (the default one unless {@link Builder#runtime} says otherwise)
 * across stop and init; it does nothing while the runtime is down. Its thread is its own, so it sees workers that block forever.
 *
 * <h2>Threading</h2>
 * {@link #close()} is thread-safe and idempotent. {@code onBlocked} is called on the detector thread
 * and must not block for long.
 */
public final class BlockedWorkerDetector implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BlockedWorkerDetector.class);

    private final long checkIntervalNanos;
    private final long thresholdNanos;
    private final long reportIntervalNanos;
    private final MeterRegistry registry;
    private final Consumer<BlockedWorkerReport> onBlocked;
    private final Thread thread;
    private final Map<Integer, Probe> probes = new HashMap<>(); // detector thread only
    private final Map<Integer, Counter> counters = new HashMap<>(); // detector thread only
    private final AtomicLong probesRun = new AtomicLong();
    private volatile boolean closed;
    private final StellaneRuntime runtime;

    private BlockedWorkerDetector(Builder b) {
        this.checkIntervalNanos = b.checkInterval.toNanos();
        this.thresholdNanos = b.threshold.toNanos();
        this.reportIntervalNanos = b.reportInterval.toNanos();
        this.registry = b.registry;
        this.onBlocked = b.onBlocked;
        this.runtime = b.runtime;
        this.thread = Thread.ofPlatform().name("stellane-blocked-worker-detector").daemon(true).unstarted(this::loop);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Settings; every one has a default. Not thread-safe. */
    public static final class Builder {
        private Duration checkInterval = Duration.ofMillis(250);
        private Duration threshold = Duration.ofSeconds(1);
        private Duration reportInterval = Duration.ofSeconds(10);
        private MeterRegistry registry;
        private Consumer<BlockedWorkerReport> onBlocked = r -> { };
        private StellaneRuntime runtime = Runtime.instance();

        private Builder() {
        }

        /** The runtime whose workers are watched (default: the default runtime). */
        public Builder runtime(StellaneRuntime runtime) {
            this.runtime = Objects.requireNonNull(runtime, "runtime");
            return this;
        }

        /** How often probes are posted and checked (default 250 ms); keep it well under {@code threshold}. */
        public Builder checkInterval(Duration d) {
            this.checkInterval = positive(d, "checkInterval");
            return this;
        }

        /** How long a worker may go without running a probe before it is reported (default 1 s). */
        public Builder threshold(Duration d) {
            this.threshold = positive(d, "threshold");
            return this;
        }

        /** At most one report per worker per this long (default 10 s); episodes are still all counted. */
        public Builder reportInterval(Duration d) {
            this.reportInterval = positive(d, "reportInterval");
            return this;
        }

        /** Where {@code stellane.workers.blocked} is counted; none by default. */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** Also called with each (rate-limited) report, after it is logged. */
        public Builder onBlocked(Consumer<BlockedWorkerReport> onBlocked) {
            this.onBlocked = Objects.requireNonNull(onBlocked, "onBlocked");
            return this;
        }

        /** Starts the detector thread. */
        public BlockedWorkerDetector start() {
            if (checkInterval.compareTo(threshold) >= 0) {
                throw new IllegalArgumentException("checkInterval (" + checkInterval + ") must be shorter than threshold ("
                        + threshold + ")");
            }
            BlockedWorkerDetector d = new BlockedWorkerDetector(this);
            d.thread.start();
            return d;
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, got " + d);
            }
            return d;
        }
    }

    /** One worker's probe state. {@code postedAt} is 0 when no probe is outstanding. */
    private static final class Probe implements Runnable {
        final int workerId;
        final EventLoopBackend backend;
        final AtomicLong probesRun;
        volatile long postedAt;
        volatile Thread thread;
        // detector thread only
        boolean blocked;
        long lastReportAt;
        boolean reported;

        Probe(int workerId, EventLoopBackend backend, AtomicLong probesRun) {
            this.workerId = workerId;
            this.backend = backend;
            this.probesRun = probesRun;
        }

        @Override
        public void run() { // on the worker
            thread = Thread.currentThread();
            postedAt = 0;
            probesRun.incrementAndGet();
        }
    }

    private void loop() {
        long next = System.nanoTime();
        while (!closed) {
            try {
                check(System.nanoTime());
            } catch (RuntimeException e) {
                log.warn("blocked-worker check failed", e);
            }
            next += checkIntervalNanos;
            long wait = next - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(this, wait);
            } else {
                next = System.nanoTime(); // fell behind (the machine is loaded): do not catch up in a burst
            }
        }
    }

    private void check(long now) {
        List<EventLoopBackend> backends;
        try {
            backends = runtime.isRunning() ? runtime.backends() : List.of();
        } catch (StellaneException stopped) {
            backends = List.of();
        }
        int workers = backends.size();
        probes.keySet().removeIf(id -> id >= workers);
        for (int id = 0; id < backends.size(); id++) {
            EventLoopBackend backend = backends.get(id);
            Probe p = probes.get(id);
            if (p == null || p.backend != backend) { // new worker, or a new runtime since
                p = new Probe(id, backend, probesRun);
                probes.put(id, p);
            }
            long posted = p.postedAt;
            if (posted == 0) {
                if (p.blocked) {
                    p.blocked = false;
                    log.info("worker {} runs again", id);
                }
                post(p, now);
            } else if (now - posted > thresholdNanos) {
                blocked(p, now, now - posted);
            }
        }
    }

    private void post(Probe p, long now) {
        p.postedAt = now;
        try {
            if (p.backend instanceof IoBackend io) {
                io.ioEventLoop().execute(p);
            } else {
                runtime.scheduleOnWorker(Task.of(p::run).named("stellane-blocked-worker-probe"), p.workerId);
            }
        } catch (RuntimeException rejected) {
            p.postedAt = 0; // the loop is shutting down; the next check sees the new state
        }
    }

    private void blocked(Probe p, long now, long blockedNanos) {
        if (!p.blocked) {
            p.blocked = true;
            if (registry != null) {
                counters.computeIfAbsent(p.workerId, id -> Counter.builder("stellane.workers.blocked")
                        .tag("worker", Integer.toString(id))
                        .description("Times a worker did not run a probe within the blocked-worker threshold")
                        .register(registry)).increment();
            }
        }
        if (p.reported && now - p.lastReportAt < reportIntervalNanos) {
            return;
        }
        p.reported = true;
        p.lastReportAt = now;
        Thread t = p.thread != null ? p.thread : findThread(p);
        List<StackTraceElement> stack = t == null ? List.of() : Arrays.asList(t.getStackTrace());
        boolean inTask = stack.stream().anyMatch(f -> f.getClassName().equals(Task.class.getName())
                && f.getMethodName().equals("run"));
        Optional<String> taskName = Optional.empty();
        try {
            taskName = runtime.runningTaskName(p.workerId);
        } catch (RuntimeException stoppedMeanwhile) {
            // the runtime stopped or shrank since the probe was posted: report without a name
        }
        BlockedWorkerReport report = new BlockedWorkerReport(p.workerId, t == null ? "unknown" : t.getName(),
                Duration.ofNanos(blockedNanos), inTask || taskName.isPresent(), taskName, List.copyOf(stack));
        log.warn("{}", report.describe());
        try {
            onBlocked.accept(report);
        } catch (RuntimeException e) {
            log.warn("blocked-worker callback threw", e);
        }
    }

    /** The worker's thread when no probe has run on it yet (it blocked before the first one). */
    private static Thread findThread(Probe p) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            boolean match = p.backend instanceof IoBackend io
                    ? io.ioEventLoop().inEventLoop(t)
                    : t instanceof WorkerThread wt && wt.worker().id() == p.workerId && t.isAlive();
            if (match) {
                return t;
            }
        }
        return null;
    }

    /** Probes that ran, over all workers: how tests know the detector has been watching. */
    long probesRun() {
        return probesRun.get();
    }

    /** Stops the detector thread and waits for it briefly. Idempotent. */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
