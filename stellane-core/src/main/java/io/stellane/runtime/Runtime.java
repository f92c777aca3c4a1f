package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.config.ConfigException;
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
import java.util.List;
import java.util.Optional;

/**
 * The spec's static face of the runtime: worker event loops that run {@link Task}s and network I/O.
 * Every method acts on {@link #DEFAULT} ({@link StellaneRuntime#defaultRuntime()}); an application that
 * needs more than one runtime creates them with {@link StellaneRuntime#create} and calls them directly.
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
    /** The runtime these methods act on. */
    static final StellaneRuntime DEFAULT = StellaneRuntime.create("stellane");

    /** The runtime these methods act on, for code that takes a runtime (a server, a metrics binding). */
    public static StellaneRuntime instance() {
        return DEFAULT;
    }

    private Runtime() {
    }

    /**
     * Validates {@code config}, creates the workers on the configured backend and starts their loops.
     *
     * @throws StellaneException when already initialized (call {@link #stop()} first)
     * @throws ConfigException   when a field is invalid
     * @throws io.stellane.backend.BackendException when the backend is unknown or cannot run here
     */
    public static void init(RuntimeConfig config) {
        DEFAULT.init(config);
    }

    /**
     * Loads a TOML file (the spec's {@code [runtime]} layout), applies {@code STELLANE_RUNTIME_*}
     * environment overrides (file &lt; environment) and initializes with the result.
     *
     * @throws ConfigException naming the bad key, its value and what is allowed
     */
    public static void initFromConfigFile(Path path) {
        DEFAULT.initFromConfigFile(path);
    }

    /** {@link #initFromConfigFile(Path)} with a path string. */
    public static void initFromConfigFile(String path) {
        DEFAULT.initFromConfigFile(path);
    }

    /**
     * Parks the calling thread until {@link #stop()}; the loops already run since {@link #init}. A
     * {@link #restart()} does not end it: it goes on waiting for the restarted runtime.
     */
    public static void start() {
        DEFAULT.start();
    }

    /**
     * Graceful stop: the {@linkplain #addLifecycleListener lifecycle listeners} (servers) drain, then
     * queued tasks run, bounded by {@code shutdown_timeout}; then the workers end. Idempotent. From a
     * task (a worker thread) it starts the stop on a thread of its own and returns without waiting.
     */
    public static void stop() {
        DEFAULT.stop();
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
        DEFAULT.restart();
    }

    /** Adds a listener of stops and restarts (applies to this and later inits); adding it again does nothing. */
    public static void addLifecycleListener(RuntimeLifecycleListener listener) {
        DEFAULT.addLifecycleListener(listener);
    }

    public static void removeLifecycleListener(RuntimeLifecycleListener listener) {
        DEFAULT.removeLifecycleListener(listener);
    }

    public static boolean isRunning() {
        return DEFAULT.isRunning();
    }

    /** Queues a task on a worker chosen by the strategy. A task runs once: scheduling it twice fails. */
    public static void schedule(Task<?> task) {
        DEFAULT.schedule(task);
    }

    /** Sets the task's priority (used by the PRIORITY strategy) and schedules it. */
    public static void scheduleWithPriority(Task<?> task, int priority) {
        DEFAULT.scheduleWithPriority(task, priority);
    }

    /** Queues a task on one worker; it runs there whatever the strategy (never stolen). */
    public static void scheduleOnWorker(Task<?> task, int workerId) {
        DEFAULT.scheduleOnWorker(task, workerId);
    }

    /** Registers a scheduler for strategy CUSTOM, used when {@code custom_scheduler} names it. */
    public static void registerScheduler(String name, TaskSchedulerFactory factory) {
        Schedulers.register(name, factory);
    }

    /** Called for every scheduled task that fails; applies to this and later inits. */
    public static void onTaskError(TaskErrorHandler handler) {
        DEFAULT.onTaskError(handler);
    }

    /** Removes a handler added with {@link #onTaskError}. */
    public static void removeTaskErrorHandler(TaskErrorHandler handler) {
        DEFAULT.removeTaskErrorHandler(handler);
    }

    public static RuntimeStats getStats() {
        return DEFAULT.getStats();
    }

    public static List<WorkerStats> getWorkerStats() {
        return DEFAULT.getWorkerStats();
    }

    /** Turns per-task-name profiling on or off; off costs one volatile read per task. */
    public static void enableProfiling(boolean on) {
        DEFAULT.enableProfiling(on);
    }

    /** Adds an observer of every scheduled task (applies to this and later inits). */
    public static void addTaskObserver(TaskObserver observer) {
        DEFAULT.addTaskObserver(observer);
    }

    public static void removeTaskObserver(TaskObserver observer) {
        DEFAULT.removeTaskObserver(observer);
    }

    /** The name of the task worker {@code workerId} runs now, if any (a moment stale at worst). */
    public static Optional<String> runningTaskName(int workerId) {
        return DEFAULT.runningTaskName(workerId);
    }

    /** The thread of worker {@code workerId}. */
    public static Thread workerThread(int workerId) {
        return DEFAULT.workerThread(workerId);
    }

    /** What profiling measured, the names that held workers longest first. */
    public static List<TaskProfile> getProfile() {
        return DEFAULT.getProfile();
    }

    /** Adds {@code value} to the counter {@code name}. */
    public static void addMetric(String name, double value) {
        DEFAULT.addMetric(name, value);
    }

    /** Adds one to the counter {@code name}. */
    public static void incrementMetric(String name) {
        DEFAULT.incrementMetric(name);
    }

    /** Sets the gauge {@code name}. */
    public static void setGauge(String name, double value) {
        DEFAULT.setGauge(name, value);
    }

    /** The custom metrics (they outlive a restart). */
    public static Metrics metrics() {
        return DEFAULT.metrics();
    }

    public static RuntimeConfig getConfig() {
        return DEFAULT.getConfig();
    }

    /**
     * Applies a new config to tasks scheduled from now on; a new {@code worker_threads} adds or retires
     * workers live. Backend, strategy and affinity settings need a restart.
     */
    public static void updateConfig(RuntimeConfig config) {
        DEFAULT.updateConfig(config);
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

    /** The workers' backends, in worker order: how a server registers its channels. */
    public static List<io.stellane.backend.EventLoopBackend> backends() {
        return DEFAULT.backends();
    }

    /** Workers whose threads are alive, retiring ones included (0 after stop). */
    public static int liveWorkers() {
        return DEFAULT.liveWorkers();
    }

    /** The order in which {@code workerId} tries other workers when it steals. */
    public static List<Integer> stealOrder(int workerId) {
        return DEFAULT.stealOrder(workerId);
    }

    static RuntimeEngine current() {
        return DEFAULT.current();
    }
}
