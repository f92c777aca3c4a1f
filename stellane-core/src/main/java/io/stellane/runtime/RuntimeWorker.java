package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.IoBackend;
import io.stellane.internal.TaskAccess;
import io.stellane.scheduler.TaskScheduler;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import io.stellane.task.WorkerThread;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * One worker: a thread, the backend it runs, its queue and its counters. The counters that the
 * worker thread alone writes are plain fields published with volatile writes, so the hot path
 * takes no lock and no contended atomic.
 */
final class RuntimeWorker implements Worker {
    private static final Logger log = LoggerFactory.getLogger(RuntimeWorker.class);
    private static final TaskAccess TASKS = TaskAccess.get();
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final int PEAK_SAMPLE = 8;
    private static final int TIMING_SAMPLE = 64;
    private static final VarHandle EXECUTED, TIMED_TASKS, TIMED_NANOS, STOLEN, CURRENT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            EXECUTED = l.findVarHandle(CounterFields.class, "executed", long.class);
            TIMED_TASKS = l.findVarHandle(CounterFields.class, "timedTasks", long.class);
            TIMED_NANOS = l.findVarHandle(CounterFields.class, "timedNanos", long.class);
            STOLEN = l.findVarHandle(CounterFields.class, "stolen", long.class);
            CURRENT = l.findVarHandle(CounterFields.class, "current", Task.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int id;
    private final RuntimeEngine engine;
    private final EventLoopBackend backend;
    private final TaskScheduler scheduler;
    private final WorkerThread thread;
    private final int plannedCpu;
    private final int numaNode;
    private volatile int pinnedCpu = -1;
    private volatile boolean retired;
    /** Retired and past its drain: what reaches it goes to the runtime's heir worker. */
    private volatile boolean handedOver;
    static final long RETIRE_LINGER_MILLIS = 1000;
    private volatile RuntimeWorker[] victims = new RuntimeWorker[0];

    private final Counters counters = new Counters();
    private final LongAdder failed = new LongAdder();

    private static final long CPU_WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    private long cpuSampleNanos;
    private double lastUsage;
    private long wallSampleNanos;

    RuntimeWorker(String threadName, int id, RuntimeEngine engine, EventLoopBackend backend, TaskScheduler scheduler,
                  int plannedCpu, int numaNode) {
        this.id = id;
        this.engine = engine;
        this.backend = backend;
        this.scheduler = scheduler;
        this.plannedCpu = plannedCpu;
        this.numaNode = numaNode;
        this.thread = new WorkerThread(this, this::loop, threadName);
        this.thread.setDaemon(true);
        backend.bind(this);
    }

    void start() {
        wallSampleNanos = System.nanoTime();
        thread.start();
    }

    private void loop() {
        if (engine.config().enableCpuAffinity() && plannedCpu >= 0) {
            String error = CpuAffinity.pinCurrentThread(plannedCpu);
            if (error == null) {
                pinnedCpu = plannedCpu;
            } else {
                log.warn("worker {} not pinned to CPU {}: {}", id, plannedCpu, error);
            }
        }
        try {
            backend.run();
        } catch (Throwable t) {
            log.error("worker {}: backend {} ended with an error", id, backend, t);
        } finally {
            engine.workerEnded(this);
        }
    }

    // ---------------------------------------------------------------- placement

    void enqueue(Task<?> task) {
        backend.schedule(task);
    }

    void victims(RuntimeWorker[] victims) {
        this.victims = victims;
    }

    boolean wakeIfSleeping() {
        return backend.wakeIfSleeping();
    }

    // ---------------------------------------------------------------- Worker (what tasks see)

    @Override
    public int id() {
        return id;
    }

    @Override
    public void execute(Runnable command) {
        if (handedOver) {
            heir(command).execute(command);
            return;
        }
        try {
            if (backend instanceof IoBackend io) {
                io.ioEventLoop().execute(command);
            } else {
                Task<Void> t = Task.of(command::run).named("worker-" + id + "-execute");
                TASKS.markScheduled(t, id, 0);
                backend.schedule(t);
            }
        } catch (RuntimeException rejected) {
            if (!retired) {
                throw rejected; // the runtime stopped: the caller decides
            }
            heir(command).execute(command);
        }
    }

    /** Where what reaches this retired worker goes instead; throws once the runtime has stopped. */
    private RuntimeWorker heir(Object what) {
        RuntimeWorker heir = engine.heir();
        if (heir == null || heir == this) {
            throw new StellaneException("worker " + id + " has retired and the runtime has stopped: " + what + " not run");
        }
        return heir;
    }

    @Override
    public long loopNanos() {
        return backend.loopNanos();
    }

    @Override
    public Future<?> schedule(Runnable command, long delay, TimeUnit unit) {
        if (handedOver) {
            return heir(command).schedule(command, delay, unit);
        }
        if (backend instanceof IoBackend io) {
            io.netty.util.concurrent.ScheduledFuture<?> f = io.ioEventLoop().schedule(command, delay, unit);
            // A loop cancels its pending timers when it ends: a retired worker's go to its heir instead.
            f.addListener(done -> {
                if (done.isCancelled() && handedOver) {
                    heir(command).schedule(command, Math.max(0, f.getDelay(TimeUnit.NANOSECONDS)), TimeUnit.NANOSECONDS);
                }
            });
            return f;
        }
        return engine.timer().schedule(() -> execute(command), delay, unit);
    }

    /**
     * Every task is counted; one in {@value #TIMING_SAMPLE} is timed for the average duration (two
     * clock reads per task would cost more than a trivial task; one in eight still cost a tenth of
     * the worker's time on a trivial-task load), every one while profiling. One in
     * {@value #PEAK_SAMPLE} samples the queue's length (with the task just taken) for its peak:
     * reading it touches the producers' cache line.
     */
    @Override
    public void run(Task<?> task) {
        Counters c = counters;
        long n = c.executed;
        boolean observed = engine.observed();
        CURRENT.setOpaque(c, task);
        if ((n & (PEAK_SAMPLE - 1)) == 0) {
            int queued = backend.pendingTasks() + 1;
            if (queued > c.peakQueue) {
                c.peakQueue = queued;
                engine.observeActive();
            }
        }
        if (observed || (n & (TIMING_SAMPLE - 1)) == 0) {
            long t0 = System.nanoTime();
            TASKS.startQueued(task);
            long took = System.nanoTime() - t0;
            TIMED_TASKS.setOpaque(c, c.timedTasks + 1);
            TIMED_NANOS.setOpaque(c, c.timedNanos + took);
            if (observed) {
                engine.observe(task, id, took);
            }
        } else {
            TASKS.startQueued(task);
        }
        CURRENT.setOpaque(c, null);
        EXECUTED.setOpaque(c, n + 1);
    }

    @Override
    public void taskFailed(Task<?> task, Throwable error) {
        failed.increment();
        engine.reportFailure(task, error);
    }

    /** One in {@value #TIMING_SAMPLE} is timed, as for queued tasks: the clock read when it is, 0 otherwise. */
    @Override
    public long beginInline() {
        return (counters.executed & (TIMING_SAMPLE - 1)) == 0 ? System.nanoTime() | 1 : 0;
    }

    @Override
    public void endInline(long began) {
        Counters c = counters;
        if (began != 0) {
            TIMED_TASKS.setOpaque(c, c.timedTasks + 1);
            TIMED_NANOS.setOpaque(c, c.timedNanos + (System.nanoTime() - began));
        }
        EXECUTED.setOpaque(c, c.executed + 1);
    }

    /** The caller reports the failure itself (a server logs and maps it): no "unhandled" warning here. */
    @Override
    public void inlineFailed(Task<?> task, Throwable error) {
        failed.increment();
        engine.notifyErrorHandlers(task, error);
    }

    /** Counted like a task of this worker; its duration is its virtual thread's, timed there. */
    @Override
    public void blockingDone(Task<?> task, long nanos, Throwable error) {
        Counters c = counters;
        TIMED_TASKS.setOpaque(c, c.timedTasks + 1);
        TIMED_NANOS.setOpaque(c, c.timedNanos + nanos);
        EXECUTED.setOpaque(c, c.executed + 1);
        if (error != null && !(error instanceof CancellationException)) {
            failed.increment();
        }
    }

    // ---------------------------------------------------------------- what the backend reads

    @Override
    public Thread thread() {
        return thread;
    }

    @Override
    public TaskScheduler scheduler() {
        return scheduler;
    }

    @Override
    public int maxTasksPerLoop() {
        return engine.config().maxTasksPerLoop();
    }

    @Override
    public long idleTimeoutNanos() {
        return engine.config().idleTimeout().toNanos();
    }

    @Override
    public int ioBatchSize() {
        return engine.config().ioBatchSize();
    }

    @Override
    public boolean zeroCopyIo() {
        return engine.config().zeroCopyIo();
    }

    @Override
    public Task<?> steal() {
        RuntimeWorker[] vs = victims;
        for (RuntimeWorker v : vs) {
            int n = scheduler.stealFrom(v.scheduler);
            if (n > 0) {
                STOLEN.setOpaque(counters, counters.stolen + n);
                return scheduler.dequeue();
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- lifecycle and stats

    EventLoopBackend backend() {
        return backend;
    }

    WorkerThread workerThread() {
        return thread;
    }

    int numaNode() {
        return numaNode;
    }

    void stop() {
        backend.stop();
    }

    /** Out of the placement (the engine already removed it): new tasks spawned here go elsewhere. */
    void leavePlacement() {
        retired = true;
    }

    /**
     * Hands over and ends: from now on what reaches this worker ({@link #execute}, {@link #schedule})
     * goes to the heir; the loop goes on draining for {@link #RETIRE_LINGER_MILLIS} ms, for what a thread
     * that read the flag just before handed it, then stops; its pending timers move to the heir.
     */
    void retire() {
        retired = true;
        handedOver = true;
        engine.timer().schedule(backend::stop, RETIRE_LINGER_MILLIS, TimeUnit.MILLISECONDS);
    }

    boolean retired() {
        return retired;
    }

    RuntimeEngine engine() {
        return engine;
    }

    long executed() {
        return (long) EXECUTED.getOpaque(counters);
    }

    long failed() {
        return failed.sum();
    }

    long timedTasks() {
        return (long) TIMED_TASKS.getOpaque(counters);
    }

    long timedNanos() {
        return (long) TIMED_NANOS.getOpaque(counters);
    }

    /** The task running now, or {@code null} (may be a moment stale). */
    Task<?> currentTask() {
        return (Task<?>) CURRENT.getOpaque(counters);
    }

    synchronized WorkerStats stats() {
        long now = System.nanoTime();
        long cpu = THREADS.isThreadCpuTimeSupported() ? THREADS.getThreadCpuTime(thread.threadId()) : -1;
        // A window closes only after CPU_WINDOW: several readers (an exporter, a dashboard, /stats)
        // then share windows instead of cutting each other's short.
        if (cpu >= 0 && now - wallSampleNanos >= CPU_WINDOW_NANOS) {
            lastUsage = Math.clamp(100.0 * (cpu - cpuSampleNanos) / (now - wallSampleNanos), 0.0, 100.0);
            cpuSampleNanos = cpu;
            wallSampleNanos = now;
        }
        double usage = lastUsage;
        long timed = timedTasks();
        long timedNanos = timedNanos();
        int queued = backend.pendingTasks();
        if (queued > counters.peakQueue) { // a snapshot sees the queue too: the worker's sample is sparse
            counters.peakQueue = queued;
        }
        return new WorkerStats(id, executed(), failed.sum(), (long) STOLEN.getOpaque(counters), queued,
                counters.peakQueue, usage, cpu, timed == 0 ? 0 : timedNanos / 1e6 / timed, thread.threadId(), thread.getName(),
                pinnedCpu, numaNode, timed, timedNanos);
    }

    @Override
    public String toString() {
        return "worker " + id;
    }

    // ---------------------------------------------------------------- counters

    /**
     * What the worker thread writes on every task, on cache lines of its own: producers read this
     * worker's other fields on every schedule, and a line the worker keeps writing would cost each
     * of them a miss. Padding by inheritance, since the JVM lays out a superclass's fields first.
     * Written by the worker only, read by stats: opaque stores (plain movs on x86), no fences.
     */
    abstract static class PadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    abstract static class CounterFields extends PadBefore {
        long executed;
        long timedTasks;
        long timedNanos;
        long stolen;
        Task<?> current;
        // The longest queue seen: sampled by the worker with the timed tasks and by stats snapshots.
        volatile int peakQueue;
    }

    static final class Counters extends CounterFields {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }
}
