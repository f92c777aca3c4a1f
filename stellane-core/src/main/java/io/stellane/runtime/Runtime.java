package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import io.stellane.config.RuntimeConfig;
import io.stellane.scheduler.Schedulers;
import io.stellane.scheduler.TaskSchedulerFactory;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import io.stellane.task.TaskErrorHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The runtime: worker event loops that run {@link Task}s and network I/O. One per process, used
 * through static methods as in the spec.
 *
 * <pre>{@code
 * Runtime.init(RuntimeConfig.builder().workerThreads(4).build());
 * Runtime.schedule(Task.of(() -> log.info("hello from a worker")));
 * Runtime.start();   // blocks until Runtime.stop()
 * }</pre>
 *
 * <h2>Lifecycle</h2>
 * {@link #init} creates the workers and starts their loops, so servers can bind and tasks run right
 * away; {@link #start()} then parks the calling thread (usually {@code main}) until {@link #stop()}.
 * {@code stop()} is graceful: {@link RuntimeLifecycleListener}s (servers) drain first, then each
 * worker runs what is queued, bounded by {@code shutdown_timeout}. After {@code stop()}, {@code init}
 * may be called again. {@link #restart()} does both with the same config, and servers come back on
 * the new workers; a thread parked in {@code start()} stays parked across it.
 *
 * <h2>Threading</h2>
 * Every method is thread-safe. Config changes through {@link #updateConfig} apply to tasks
 * scheduled afterwards; changing {@code worker_threads} adds or retires workers live.
 */
public final class Runtime {
    private static final Logger log = LoggerFactory.getLogger(Runtime.class);
    private static final Object LOCK = new Object();
    private static final List<TaskErrorHandler> ERROR_HANDLERS = new CopyOnWriteArrayList<>();
    private static final Metrics METRICS = new Metrics();
    private static final List<TaskObserver> OBSERVERS = new CopyOnWriteArrayList<>();
    private static final CopyOnWriteArrayList<RuntimeLifecycleListener> LIFECYCLE = new CopyOnWriteArrayList<>();
    private static volatile RuntimeEngine engine;
    private static volatile boolean profiling;

    private Runtime() {
    }

    // ---------------------------------------------------------------- initialization

    /**
     * Validates {@code config}, creates the workers on the configured backend and starts their loops.
     *
     * @throws StellaneException when already initialized (call {@link #stop()} first)
     * @throws ConfigException   when a field is invalid
     * @throws io.stellane.backend.BackendException when the backend is unknown or cannot run here
     */
    public static void init(RuntimeConfig config) {
        Objects.requireNonNull(config, "config");
        synchronized (LOCK) {
            RuntimeEngine e = engine;
            if (e != null && e.state() != RuntimeEngine.State.STOPPED) {
                throw new StellaneException("Runtime.init() called twice: the runtime is already "
                        + e.state().name().toLowerCase() + "; call Runtime.stop() first (or Runtime.restart())");
            }
            RuntimeEngine created = new RuntimeEngine(config, ERROR_HANDLERS, METRICS, LIFECYCLE);
            created.enableProfiling(profiling);
            OBSERVERS.forEach(created::addObserver);
            engine = created;
        }
    }

    /**
     * Loads a TOML file (the spec's {@code [runtime]} layout), applies {@code STELLANE_RUNTIME_*}
     * environment overrides (file &lt; environment) and initializes with the result.
     *
     * @throws ConfigException naming the bad key, its value and what is allowed
     */
    public static void initFromConfigFile(Path path) {
        init(ConfigLoader.load(Objects.requireNonNull(path, "path")));
    }

    /** {@link #initFromConfigFile(Path)} with a path string. */
    public static void initFromConfigFile(String path) {
        initFromConfigFile(Path.of(path));
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Parks the calling thread until {@link #stop()}; the loops already run since {@link #init}. A
     * {@link #restart()} does not end it: it goes on waiting for the restarted runtime.
     */
    public static void start() {
        RuntimeEngine e;
        synchronized (LOCK) { // not between the two lives of a restart
            e = current();
        }
        while (true) {
            try {
                e.awaitStop();
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new StellaneException("interrupted while the runtime was running", ie);
            }
            synchronized (LOCK) { // a restart holds the lock from before its stop until its new engine runs
                RuntimeEngine now = engine;
                if (now == null || now == e || now.state() == RuntimeEngine.State.STOPPED) {
                    return;
                }
                e = now;
            }
        }
    }

    /**
     * Graceful stop: the {@linkplain #addLifecycleListener lifecycle listeners} (servers) drain, then
     * queued tasks run, bounded by {@code shutdown_timeout}; then the workers end. Idempotent. From a
     * task (a worker thread) it starts the stop on a thread of its own and returns without waiting.
     */
    public static void stop() {
        RuntimeEngine e = engine;
        if (e == null || e.state() != RuntimeEngine.State.RUNNING) {
            return;
        }
        if (onWorkerOf(e)) {
            Thread.ofPlatform().name("stellane-stop").start(Runtime::stop); // a worker cannot wait for itself
            return;
        }
        notifyStopping(false);
        e.stop();
    }

    /**
     * Stops gracefully and initializes again with the current config: servers drain, the workers end,
     * new ones start, and servers listen again on the same addresses. A thread parked in {@link #start()}
     * stays parked. From a task (a worker thread) the restart runs on a thread of its own and this call
     * returns at once; elsewhere it returns once the new workers run.
     *
     * @throws StellaneException when the runtime is not initialized
     */
    public static void restart() {
        RuntimeEngine e = current();
        if (onWorkerOf(e)) {
            Thread.ofPlatform().name("stellane-restart").start(() -> {
                try {
                    restart();
                } catch (RuntimeException ex) {
                    log.error("runtime restart failed", ex);
                }
            });
            return;
        }
        synchronized (LOCK) {
            e = current();
            RuntimeConfig config = e.config();
            notifyStopping(true);
            e.stop();
            init(config);
            for (RuntimeLifecycleListener l : LIFECYCLE) {
                try {
                    l.restarted();
                } catch (RuntimeException ex) {
                    log.error("lifecycle listener {} failed after the restart", l, ex);
                }
            }
        }
    }

    private static boolean onWorkerOf(RuntimeEngine e) {
        return io.stellane.task.Worker.current() instanceof RuntimeWorker rw && rw.engine() == e;
    }

    private static void notifyStopping(boolean restarting) {
        for (RuntimeLifecycleListener l : LIFECYCLE) {
            try {
                l.stopping(restarting);
            } catch (RuntimeException ex) {
                log.error("lifecycle listener {} failed while the runtime stopped", l, ex);
            }
        }
    }

    /** Adds a listener of stops and restarts (applies to this and later inits); adding it again does nothing. */
    public static void addLifecycleListener(RuntimeLifecycleListener listener) {
        LIFECYCLE.addIfAbsent(Objects.requireNonNull(listener, "listener"));
    }

    public static void removeLifecycleListener(RuntimeLifecycleListener listener) {
        LIFECYCLE.remove(listener);
    }

    public static boolean isRunning() {
        RuntimeEngine e = engine;
        return e != null && e.state() == RuntimeEngine.State.RUNNING;
    }

    // ---------------------------------------------------------------- scheduling

    /** Queues a task on a worker chosen by the strategy. A task runs once: scheduling it twice fails. */
    public static void schedule(Task<?> task) {
        current().schedule(Objects.requireNonNull(task, "task"), -1);
    }

    /** Sets the task's priority (used by the PRIORITY strategy) and schedules it. */
    public static void scheduleWithPriority(Task<?> task, int priority) {
        Objects.requireNonNull(task, "task").withPriority(priority);
        current().schedule(task, -1);
    }

    /** Queues a task on one worker; it runs there whatever the strategy (never stolen). */
    public static void scheduleOnWorker(Task<?> task, int workerId) {
        current().schedule(Objects.requireNonNull(task, "task"), workerId);
    }

    /** Registers a scheduler for strategy CUSTOM, used when {@code custom_scheduler} names it. */
    public static void registerScheduler(String name, TaskSchedulerFactory factory) {
        Schedulers.register(name, factory);
    }

    /** Called for every scheduled task that fails; applies to this and later inits. */
    public static void onTaskError(TaskErrorHandler handler) {
        Objects.requireNonNull(handler, "handler");
        ERROR_HANDLERS.add(handler);
        RuntimeEngine e = engine;
        if (e != null) {
            e.addErrorHandler(handler);
        }
    }

    /** Removes a handler added with {@link #onTaskError}. */
    public static void removeTaskErrorHandler(TaskErrorHandler handler) {
        ERROR_HANDLERS.remove(handler);
    }

    // ---------------------------------------------------------------- monitoring

    public static RuntimeStats getStats() {
        return current().stats();
    }

    public static List<WorkerStats> getWorkerStats() {
        return current().workerStats();
    }

    /** Turns per-task-name profiling on or off; off costs one volatile read per task. */
    public static void enableProfiling(boolean on) {
        profiling = on;
        RuntimeEngine e = engine;
        if (e != null) {
            e.enableProfiling(on);
        }
    }

    /** Adds an observer of every scheduled task (applies to this and later inits). */
    public static void addTaskObserver(TaskObserver observer) {
        Objects.requireNonNull(observer, "observer");
        OBSERVERS.add(observer);
        RuntimeEngine e = engine;
        if (e != null) {
            e.addObserver(observer);
        }
    }

    public static void removeTaskObserver(TaskObserver observer) {
        OBSERVERS.remove(observer);
        RuntimeEngine e = engine;
        if (e != null) {
            e.removeObserver(observer);
        }
    }

    /** The name of the task worker {@code workerId} runs now, if any (a moment stale at worst). */
    public static Optional<String> runningTaskName(int workerId) {
        Task<?> t = current().worker(workerId).currentTask();
        return t == null ? Optional.empty() : Optional.of(t.name());
    }

    /** The thread of worker {@code workerId}. */
    public static Thread workerThread(int workerId) {
        return current().worker(workerId).workerThread();
    }

    /** What profiling measured, the names that held workers longest first. */
    public static List<TaskProfile> getProfile() {
        return current().profiles();
    }

    /** Adds {@code value} to the counter {@code name}. */
    public static void addMetric(String name, double value) {
        METRICS.add(name, value);
    }

    /** Adds one to the counter {@code name}. */
    public static void incrementMetric(String name) {
        METRICS.add(name, 1);
    }

    /** Sets the gauge {@code name}. */
    public static void setGauge(String name, double value) {
        METRICS.gauge(name, value);
    }

    /** The custom metrics (they outlive a restart). */
    public static Metrics metrics() {
        return METRICS;
    }

    // ---------------------------------------------------------------- configuration

    public static RuntimeConfig getConfig() {
        return current().config();
    }

    /**
     * Applies a new config to tasks scheduled from now on; a new {@code worker_threads} adds or retires
     * workers live. Backend, strategy and affinity settings need a restart.
     */
    public static void updateConfig(RuntimeConfig config) {
        current().updateConfig(Objects.requireNonNull(config, "config"));
    }

    /** Whether {@code config} is valid; the reason is logged when it is not (see {@link RuntimeConfig#validate()}). */
    public static boolean validateConfig(RuntimeConfig config) {
        try {
            config.validate();
            return true;
        } catch (ConfigException e) {
            log.warn("{}", e.getMessage());
            return false;
        }
    }

    // ---------------------------------------------------------------- for transports and tests

    static RuntimeEngine current() {
        RuntimeEngine e = engine;
        if (e == null || e.state() == RuntimeEngine.State.STOPPED) {
            throw new StellaneException("the runtime is not initialized: call Runtime.init(config) first");
        }
        return e;
    }

    /** The workers' backends, in worker order: how a server registers its channels. */
    public static List<io.stellane.backend.EventLoopBackend> backends() {
        return Arrays.stream(current().workerArray()).map(RuntimeWorker::backend).toList();
    }

    /** Workers whose threads are alive, retiring ones included (0 after stop). */
    public static int liveWorkers() {
        RuntimeEngine e = engine;
        return e == null ? 0 : e.liveWorkers();
    }

    /** The order in which {@code workerId} tries other workers when it steals. */
    public static List<Integer> stealOrder(int workerId) {
        return current().victimsOf(workerId);
    }
}
