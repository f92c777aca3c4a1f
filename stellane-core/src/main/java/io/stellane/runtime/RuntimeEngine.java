package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.RuntimeFactory;
import io.stellane.config.RuntimeConfig;
import io.stellane.internal.TaskAccess;
import io.stellane.scheduler.Schedulers;
import io.stellane.scheduler.TaskSchedulerFactory;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import io.stellane.task.TaskErrorHandler;
import io.stellane.task.Worker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;

/**
 * One life of the runtime, from {@code init} to {@code stop}: its workers, where tasks go, and
 * the numbers. {@link Runtime} is the static face of the current engine.
 *
 * <h2>How placement works</h2>
 * A task scheduled on a worker ({@code scheduleOnWorker}) goes there and is never stolen. Otherwise
 * the strategy ({@link TaskSchedulerFactory#place}) picks the worker: FIFO and PRIORITY spread tasks
 * round-robin; WORK_STEALING keeps a task spawned on a worker on that worker (cache-warm, no
 * cross-thread hop) and wakes an idle worker to steal when the target is busy; AFFINITY sends equal
 * affinity keys to one worker and keeps keyless tasks spawned on a worker where they are.
 */
final class RuntimeEngine implements TaskSchedulerFactory.Placement {
    private static final Logger log = LoggerFactory.getLogger(RuntimeEngine.class);
    private static final TaskAccess TASKS = TaskAccess.get();

    enum State { RUNNING, STOPPING, STOPPED }

    /** The runtime's name: its worker threads are {@code name-worker-N}. */
    private final String name;
    private volatile RuntimeConfig config;
    private final String backendName;
    /** The scheduling strategy: each worker's queue and where each task goes. */
    private final TaskSchedulerFactory strategy;
    private final NumaTopology topology;
    private final List<Integer> cpuPlan;
    private final Instant startTime = Instant.now();
    private final long startNanos = System.nanoTime();

    private volatile State state = State.RUNNING;
    private volatile RuntimeWorker[] workers;
    /** Every worker whose thread may still run: the current ones and retired ones not yet ended. */
    private final List<RuntimeWorker> allWorkers = new CopyOnWriteArrayList<>();
    /** Executed, failed, timed, timed nanos of the workers that retired and ended. */
    private final long[] retiredTotals = new long[4];
    private final AtomicInteger live = new AtomicInteger();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final LongAccumulator peakActive = new LongAccumulator(Math::max, 0);
    private final CopyOnWriteArrayList<TaskErrorHandler> errorHandlers;
    private final AtomicLong unreportedFailures = new AtomicLong();
    private volatile ScheduledExecutorService timer;

    private volatile boolean profiling;
    private volatile TaskObserver[] observers = new TaskObserver[0];
    private final Map<String, ProfileCell> profiles = new ConcurrentHashMap<>();
    private final Metrics metrics;

    /** The runtime's lifecycle listeners (the facade's list, shared): told of workers added and retiring. */
    private final List<RuntimeLifecycleListener> lifecycle;

    RuntimeEngine(String name, RuntimeConfig config, List<TaskErrorHandler> errorHandlers, Metrics metrics,
                  List<RuntimeLifecycleListener> lifecycle) {
        this.name = name;
        this.lifecycle = lifecycle;
        config.validate();
        this.config = config;
        this.errorHandlers = new CopyOnWriteArrayList<>(errorHandlers);
        this.metrics = metrics;
        this.backendName = RuntimeFactory.resolve(config.backendType());
        this.strategy = Schedulers.factoryFor(config.strategy(), config.customScheduler());
        this.topology = NumaTopology.detect();
        List<Integer> allowed = CpuAffinity.allowedCpus();
        this.cpuPlan = config.enableNumaAwareness()
                ? topology.cpusByNode().stream().filter(allowed::contains).toList()
                : allowed;
        RuntimeWorker[] created = new RuntimeWorker[config.initialWorkers()];
        try {
            for (int i = 0; i < created.length; i++) {
                created[i] = newWorker(i);
            }
        } catch (RuntimeException e) {
            for (RuntimeWorker w : created) {
                if (w != null) {
                    w.stop();
                }
            }
            throw e;
        }
        this.workers = created;
        wireVictims();
        for (RuntimeWorker w : created) {
            live.incrementAndGet();
            w.start();
        }
        log.info("runtime started: backend {}, {} workers, strategy {}{}", backendName, created.length, config.strategy(),
                config.scales() ? ", scaling " + config.minWorkers() + ".." + config.maxWorkers() : "");
        if (config.scales()) {
            startScaling();
        }
    }

    private RuntimeWorker newWorker(int id) {
        EventLoopBackend backend = RuntimeFactory.createBackend(backendName);
        int cpu = cpuPlan.isEmpty() ? -1 : cpuPlan.get(id % cpuPlan.size());
        RuntimeWorker w = new RuntimeWorker(name + "-worker-" + id, id, this, backend, strategy.create(id), cpu,
                cpu < 0 ? -1 : topology.nodeOf(cpu));
        allWorkers.add(w);
        return w;
    }

    /** Who each worker steals from: the ring after it; with NUMA awareness, same-node workers first. */
    private void wireVictims() {
        RuntimeWorker[] ws = workers;
        boolean steals = strategy.steals();
        for (RuntimeWorker w : ws) {
            w.victims(steals ? stealOrder(w, ws).toArray(RuntimeWorker[]::new) : new RuntimeWorker[0]);
        }
    }

    private List<RuntimeWorker> stealOrder(RuntimeWorker w, RuntimeWorker[] ws) {
        List<RuntimeWorker> order = new ArrayList<>();
        for (int k = 1; k < ws.length; k++) {
            order.add(ws[(w.id() + k) % ws.length]);
        }
        if (config.enableNumaAwareness()) {
            order.sort(Comparator.comparingInt(v -> v.numaNode() == w.numaNode() ? 0 : 1)); // stable: ring order within
        }
        return order;
    }

    /** The stealing order of a worker, for tests and diagnostics. */
    List<Integer> victimsOf(int workerId) {
        return stealOrder(worker(workerId), workers).stream().map(RuntimeWorker::id).toList();
    }

    // ---------------------------------------------------------------- scheduling

    void schedule(Task<?> task, int pinned) {
        RuntimeWorker[] ws = workers;
        if (state != State.RUNNING) {
            Worker here = Worker.current();
            if (state == State.STOPPED || !(here instanceof RuntimeWorker rw) || rw.engine() != this) {
                throw new StellaneException("the runtime is " + state.name().toLowerCase()
                        + "; it takes no new tasks (task '" + task.name() + "')");
            }
        }
        RuntimeWorker target;
        if (pinned >= 0) {
            if (pinned >= ws.length) {
                throw new StellaneException("no worker " + pinned + ": the runtime has workers 0.." + (ws.length - 1));
            }
            target = ws[pinned];
        } else {
            target = place(task, ws);
        }
        TASKS.markScheduled(task, pinned, observed() ? System.nanoTime() : 0);
        target.enqueue(task);
        if (pinned < 0 && strategy.steals() && Worker.current() == target) {
            // Kept on the busy worker that spawned it: an idle worker can steal it. Tasks from off the
            // runtime are spread round-robin and wake their own worker; checking siblings on each of
            // them would read every worker's flag.
            wakeIdleSibling(ws, target);
        }
    }

    /** The worker that takes over what reaches a retired one (worker 0 never retires), or null once stopped. */
    RuntimeWorker heir() {
        RuntimeWorker[] ws = workers;
        return state == State.STOPPED || ws.length == 0 ? null : ws[0];
    }

    /** Asks the strategy; a worker index it gives that is out of range (the count just changed) wraps. */
    private RuntimeWorker place(Task<?> task, RuntimeWorker[] ws) {
        int i = strategy.place(task, this);
        return ws[i >= 0 && i < ws.length ? i : Math.floorMod(i, ws.length)];
    }

    @Override
    public int workers() {
        return workers.length;
    }

    @Override
    public int local() {
        return Worker.current() instanceof RuntimeWorker rw && rw.engine() == this && !rw.retired() ? rw.id() : -1;
    }

    @Override
    public int next() {
        // Racy on purpose: a lost increment only puts two tasks on one worker, and a locked
        // instruction would be a fifth of scheduling a trivial task. A mask where the count allows
        // it: a division costs more than the rest of the placement.
        int i = roundRobin.getPlain(), n = workers.length;
        roundRobin.setPlain(i + 1);
        return (n & (n - 1)) == 0 ? i & (n - 1) : Math.floorMod(i, n);
    }

    private void wakeIdleSibling(RuntimeWorker[] ws, RuntimeWorker busy) {
        for (int k = 1; k < ws.length; k++) {
            if (ws[(busy.id() + k) % ws.length].wakeIfSleeping()) {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- failures, profiling, metrics

    /** Tells the error handlers, if any; nothing is logged when there are none. */
    void notifyErrorHandlers(Task<?> task, Throwable error) {
        if (!errorHandlers.isEmpty()) {
            reportFailure(task, error);
        }
    }

    void reportFailure(Task<?> task, Throwable error) {
        if (errorHandlers.isEmpty()) {
            long n = unreportedFailures.incrementAndGet();
            if (n == 1 || Long.bitCount(n) == 1) { // 1, 2, 4, 8...: visible, never a flood
                log.warn("task '{}' failed ({} failures so far; register Runtime.onTaskError to handle them)", task.name(), n, error);
            }
            return;
        }
        for (TaskErrorHandler h : errorHandlers) {
            try {
                h.onTaskError(error, task);
            } catch (Throwable t) {
                log.error("task error handler {} threw", h, t);
            }
        }
    }

    void addErrorHandler(TaskErrorHandler handler) {
        errorHandlers.add(handler);
    }

    /** Whether each task's run must be timed: profiling is on, or observers listen. */
    boolean observed() {
        return profiling || observers.length > 0;
    }

    void enableProfiling(boolean on) {
        profiling = on;
    }

    void addObserver(TaskObserver o) {
        synchronized (this) {
            TaskObserver[] next = Arrays.copyOf(observers, observers.length + 1);
            next[observers.length] = o;
            observers = next;
        }
    }

    void removeObserver(TaskObserver o) {
        synchronized (this) {
            observers = Arrays.stream(observers).filter(x -> x != o).toArray(TaskObserver[]::new);
        }
    }

    void observe(Task<?> task, int workerId, long runNanos) {
        long enqueued = TASKS.enqueuedNanos(task);
        long wait = enqueued == 0 ? 0 : Math.max(0, System.nanoTime() - runNanos - enqueued);
        if (profiling) {
            profiles.computeIfAbsent(task.name(), ProfileCell::new).add(runNanos, wait);
        }
        boolean failed = task.isFailed();
        for (TaskObserver o : observers) {
            try {
                o.taskRan(task.name(), workerId, runNanos, wait, failed);
            } catch (Throwable t) {
                log.error("task observer {} threw", o, t);
            }
        }
    }

    List<TaskProfile> profiles() {
        return profiles.values().stream().map(ProfileCell::snapshot)
                .sorted(Comparator.comparingLong(TaskProfile::totalRunNanos).reversed()).toList();
    }

    private static final class ProfileCell {
        final String name;
        long count, total, max, waited;

        ProfileCell(String name) {
            this.name = name;
        }

        synchronized void add(long run, long wait) {
            count++;
            total += run;
            max = Math.max(max, run);
            waited += wait;
        }

        synchronized TaskProfile snapshot() {
            return new TaskProfile(name, count, total, max, waited);
        }
    }

    Metrics metrics() {
        return metrics;
    }

    /**
     * Tasks queued or running now, counted when asked (O(workers)) rather than on every schedule:
     * a shared counter per task would cost more than the task.
     */
    private long active() {
        long active = 0;
        for (RuntimeWorker w : allWorkers) {
            active += w.backend().pendingTasks() + (w.currentTask() != null ? 1 : 0);
        }
        return active;
    }

    void observeActive() {
        peakActive.accumulate(active());
    }

    ScheduledExecutorService timer() {
        ScheduledExecutorService t = timer;
        if (t == null) {
            synchronized (this) {
                t = timer;
                if (t == null) {
                    timer = t = Executors.newSingleThreadScheduledExecutor(r -> {
                        Thread th = new Thread(r, "stellane-runtime-timer");
                        th.setDaemon(true);
                        return th;
                    });
                }
            }
        }
        return t;
    }

    // ---------------------------------------------------------------- config and worker count

    RuntimeConfig config() {
        return config;
    }

    synchronized void updateConfig(RuntimeConfig next) {
        next.validate();
        RuntimeConfig cur = config;
        List<String> fixed = new ArrayList<>();
        if (!next.backendType().equals(cur.backendType())) fixed.add("backend");
        if (next.strategy() != cur.strategy()) fixed.add("strategy");
        if (!next.customScheduler().equals(cur.customScheduler())) fixed.add("custom_scheduler");
        if (next.enableCpuAffinity() != cur.enableCpuAffinity()) fixed.add("enable_cpu_affinity");
        if (next.enableNumaAwareness() != cur.enableNumaAwareness()) fixed.add("enable_numa_awareness");
        if (!fixed.isEmpty()) {
            throw new StellaneException("cannot change " + String.join(", ", fixed)
                    + " while the runtime runs: stop() and init() with the new config, or restart()");
        }
        if (state != State.RUNNING) {
            throw new StellaneException("the runtime is " + state.name().toLowerCase() + "; cannot update its config");
        }
        RuntimeConfig before = config;
        config = next;
        if (next.scales()) {
            // the scaler decides the count, within the (maybe new) range
            resize(Math.clamp(workers.length, next.minWorkers(), next.maxWorkers()));
            if (!before.scales()) {
                startScaling();
            }
        } else {
            resize(next.workerThreads());
        }
    }

    // ---------------------------------------------------------------- scaling

    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private volatile ScheduledFuture<?> scaler;
    /** Scaler state, on the timer thread only. */
    private final Map<RuntimeWorker, long[]> cpuSeen = new HashMap<>();
    private long lastTickNanos;
    private long saturatedSince;
    private long idleSince;

    /** Busy above this share of their time, or queues this deep per worker, for scaleUpAfter: one more worker. */
    static final double SATURATED = 0.80;
    /** Busy below this share with next to nothing queued, for scaleDownAfter: one worker fewer. */
    static final double IDLE = 0.30;

    private synchronized void startScaling() {
        if (scaler != null) {
            return;
        }
        RuntimeConfig c = config;
        long tick = Math.clamp(Math.min(c.scaleUpAfter().toMillis(), c.scaleDownAfter().toMillis()) / 4, 25, 1000);
        lastTickNanos = System.nanoTime();
        scaler = timer().scheduleWithFixedDelay(this::scaleQuietly, tick, tick, TimeUnit.MILLISECONDS);
    }

    private void scaleQuietly() {
        try {
            scale();
        } catch (RuntimeException e) {
            log.warn("worker scaling check failed: {}", e.toString());
        }
    }

    /**
     * One look at the workers: their busy share (thread CPU time over wall time since the last look) and
     * queued tasks. Saturated for {@code scaleUpAfter}: add a worker; idle for {@code scaleDownAfter}:
     * retire one. Either window starts again after a change, and between the two thresholds neither
     * runs: the gap and the windows are the hysteresis that keeps the count from flapping.
     */
    private void scale() {
        RuntimeConfig c = config;
        if (state != State.RUNNING || !c.scales()) {
            return;
        }
        long now = System.nanoTime();
        long wall = Math.max(1, now - lastTickNanos);
        lastTickNanos = now;
        RuntimeWorker[] ws = workers;
        double busy = 0;
        long queued = 0;
        for (RuntimeWorker w : ws) {
            long cpu = threads.getThreadCpuTime(w.workerThread().threadId());
            long[] seen = cpuSeen.computeIfAbsent(w, x -> new long[]{cpu});
            busy += cpu < 0 ? 0 : Math.clamp((double) (cpu - seen[0]) / wall, 0.0, 1.0);
            seen[0] = cpu;
            queued += w.backend().pendingTasks();
        }
        cpuSeen.keySet().retainAll(Arrays.asList(ws));
        double share = busy / ws.length;
        boolean saturated = share > SATURATED || queued > (long) ws.length * c.maxTasksPerLoop();
        boolean idle = share < IDLE && queued <= ws.length;
        if (saturated && ws.length < c.maxWorkers()) {
            idleSince = 0;
            if (saturatedSince == 0) {
                saturatedSince = now;
            } else if (now - saturatedSince >= c.scaleUpAfter().toNanos()) {
                saturatedSince = 0;
                log.info("scaling up: workers {}% busy, {} tasks queued, for {}", Math.round(share * 100), queued,
                        c.scaleUpAfter());
                resizeLocked(ws.length + 1);
            }
        } else if (idle && ws.length > c.minWorkers()) {
            saturatedSince = 0;
            if (idleSince == 0) {
                idleSince = now;
            } else if (now - idleSince >= c.scaleDownAfter().toNanos()) {
                idleSince = 0;
                log.info("scaling down: workers {}% busy, {} tasks queued, for {}", Math.round(share * 100), queued,
                        c.scaleDownAfter());
                resizeLocked(ws.length - 1);
            }
        } else {
            saturatedSince = 0;
            idleSince = 0;
        }
    }

    private synchronized void resizeLocked(int count) {
        if (state == State.RUNNING && config.scales()) {
            resize(Math.clamp(count, config.minWorkers(), config.maxWorkers()));
        }
    }

    private void resize(int count) {
        RuntimeWorker[] cur = workers;
        if (count == cur.length) {
            return;
        }
        if (count > cur.length) {
            RuntimeWorker[] grown = Arrays.copyOf(cur, count);
            for (int i = cur.length; i < count; i++) {
                grown[i] = newWorker(i);
            }
            workers = grown;
            wireVictims();
            for (int i = cur.length; i < count; i++) {
                live.incrementAndGet();
                grown[i].start();
            }
            for (int i = cur.length; i < count; i++) {
                for (RuntimeLifecycleListener l : lifecycle) {
                    try {
                        l.workerAdded(i, grown[i].backend());
                    } catch (RuntimeException e) {
                        log.error("lifecycle listener {} failed on worker {} added", l, i, e);
                    }
                }
            }
            log.info("runtime grew from {} to {} workers", cur.length, count);
        } else {
            // Retired workers leave the placement first; the listeners move or finish what lives on them
            // (a server's connections end after their next response); then they drain their queues and end.
            workers = Arrays.copyOf(cur, count);
            wireVictims();
            for (int i = count; i < cur.length; i++) {
                RuntimeWorker w = cur[i];
                w.leavePlacement();
                List<CompletableFuture<?>> held = new ArrayList<>();
                for (RuntimeLifecycleListener l : lifecycle) {
                    try {
                        held.add(l.workerRetiring(w.id(), w.backend()).toCompletableFuture());
                    } catch (RuntimeException e) {
                        log.error("lifecycle listener {} failed on worker {} retiring", l, w.id(), e);
                    }
                }
                CompletableFuture.allOf(held.toArray(CompletableFuture[]::new))
                        .orTimeout(config.shutdownTimeout().toNanos() + RETIRE_GRACE_NANOS, TimeUnit.NANOSECONDS)
                        .whenComplete((v, e) -> {
                            if (e != null) {
                                log.warn("worker {} retires with work still on it: {}", w.id(), e.toString());
                            }
                            w.retire();
                        });
            }
            log.info("runtime shrank from {} to {} workers", cur.length, count);
        }
    }

    /** How long a retiring worker's listeners may take beyond the shutdown timeout (a connection's idle timeout, say). */
    private static final long RETIRE_GRACE_NANOS = TimeUnit.SECONDS.toNanos(60);

    // ---------------------------------------------------------------- lifecycle

    State state() {
        return state;
    }

    void awaitStop() throws InterruptedException {
        stopped.await();
    }

    /**
     * Graceful stop: workers run what is queued, bounded by the shutdown timeout. Called on one of
     * this runtime's workers, it cannot wait for itself: the stop then runs on its own thread and
     * this call returns at once.
     */
    void stop() {
        if (Worker.current() instanceof RuntimeWorker rw && rw.engine() == this) {
            Thread.ofPlatform().name("stellane-stop").start(this::stop);
            return;
        }
        synchronized (this) {
            if (state != State.RUNNING) {
                return;
            }
            state = State.STOPPING;
        }
        long deadline = System.nanoTime() + config.shutdownTimeout().toNanos();
        for (RuntimeWorker w : allWorkers) {
            w.stop();
        }
        List<RuntimeWorker> stuck = new ArrayList<>();
        for (RuntimeWorker w : allWorkers) {
            long left = deadline - System.nanoTime();
            try {
                w.workerThread().join(Duration.ofNanos(Math.max(left, 1)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (w.workerThread().isAlive()) {
                stuck.add(w);
            }
        }
        if (!stuck.isEmpty()) {
            int abandoned = stuck.stream().mapToInt(w -> w.backend().pendingTasks()).sum();
            log.error("runtime stop: {} did not finish within {} ({} queued tasks abandoned); a task is probably blocking its worker",
                    stuck, config.shutdownTimeout(), abandoned);
        }
        ScheduledExecutorService t = timer;
        if (t != null) {
            t.shutdownNow();
        }
        state = State.STOPPED;
        stopped.countDown();
        log.info("runtime stopped");
    }

    void workerEnded(RuntimeWorker w) {
        live.decrementAndGet();
        if (w.retired() && state == State.RUNNING) {
            synchronized (retiredTotals) { // its counts stay in the runtime's totals; the worker itself goes
                retiredTotals[0] += w.executed();
                retiredTotals[1] += w.failed();
                retiredTotals[2] += w.timedTasks();
                retiredTotals[3] += w.timedNanos();
                allWorkers.remove(w);
            }
        }
    }

    /** Workers whose threads are still alive (retired ones included). */
    int liveWorkers() {
        return live.get();
    }

    // ---------------------------------------------------------------- stats

    RuntimeWorker worker(int id) {
        RuntimeWorker[] ws = workers;
        if (id < 0 || id >= ws.length) {
            throw new StellaneException("no worker " + id + ": the runtime has workers 0.." + (ws.length - 1));
        }
        return ws[id];
    }

    RuntimeWorker[] workerArray() {
        return workers;
    }

    String backendName() {
        return backendName;
    }

    RuntimeStats stats() {
        long executed, failed, timed, timedNanos;
        synchronized (retiredTotals) {
            executed = retiredTotals[0];
            failed = retiredTotals[1];
            timed = retiredTotals[2];
            timedNanos = retiredTotals[3];
            for (RuntimeWorker w : allWorkers) {
                executed += w.executed();
                failed += w.failed();
                timed += w.timedTasks();
                timedNanos += w.timedNanos();
            }
        }
        long active = active();
        peakActive.accumulate(active);
        return new RuntimeStats(startTime, Duration.ofNanos(System.nanoTime() - startNanos), executed, failed, active,
                peakActive.get(), timed == 0 ? 0 : timedNanos / 1e6 / timed, backendName, workers.length,
                config.strategy().name(), timed, timedNanos);
    }

    List<WorkerStats> workerStats() {
        return Arrays.stream(workers).map(RuntimeWorker::stats).toList();
    }
}
