package io.stellane.benchmarks;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.CpuAffinity;
import io.stellane.runtime.Runtime;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Schedule-to-completion throughput of trivial tasks: one op is one task, from its submission to the
 * end of its body. Each invocation submits {@link #BATCH} tasks whose body decrements a shared
 * {@link Countdown}, then parks until the last one has run.
 *
 * <h2>Contenders, all in one run, all with {@value #WORKERS} worker threads</h2>
 * <ul>
 *   <li>{@code stellane}: {@code Runtime.schedule(Task.of(body))} from the benchmark thread, for each
 *       {@code strategy} and {@code backend};</li>
 *   <li>{@code stellaneSpawnFromWorker}: one task pinned to worker 0 schedules the batch, so tasks are
 *       spawned on a worker; under WORK_STEALING they stay on worker 0 and worker 1 has to steal,
 *       under AFFINITY they all stay on worker 0, under FIFO and PRIORITY they are spread round-robin;</li>
 *   <li>{@code completableFuture}: {@code CompletableFuture.runAsync(body)} on the common pool
 *       (parallelism forced to {@value #WORKERS} in the fork), and its spawn-from-worker twin, where a
 *       pool worker submits the batch into its own queue and the other worker steals;
 *       {@code completableFutureSupply}: the same with {@code supplyAsync}, the form the runtime
 *       issue names (one more field store per task: its value);</li>
 *   <li>{@code nettyEventLoop}: {@code group.next().execute(body)} on a
 *       {@code MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory())}: the raw loop Stellane wraps;</li>
 *   <li>{@code virtualThreadPerTask}: one virtual thread per task, carrier parallelism forced to
 *       {@value #WORKERS} in the fork;</li>
 *   <li>{@code bareHandoff}: {@link BareHandoff}, a lock-free queue and a parking thread per worker
 *       and nothing else: the reference for what handing a task over costs on the machine at hand.</li>
 * </ul>
 * Every contender gets a fresh task object per op (a Stellane {@code Task} runs once); the body is the
 * same shared {@link Countdown}, and the completion detection is the same for all.
 *
 * <p>{@code -p placement=split} pins the benchmark thread and the contenders' workers to different
 * CPUs ({@link Placement}): on a small machine the kernel's placement otherwise moves scores more
 * than the contenders differ.
 *
 * <p>Run: {@code ./stellane bench TaskThroughputBenchmark} (see docs/BENCHMARKS.md).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(TaskThroughputBenchmark.BATCH)
@Threads(1)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 2, jvmArgsAppend = {
        "--enable-native-access=ALL-UNNAMED",
        "--sun-misc-unsafe-memory-access=allow",
        // the baselines get the same number of threads as the runtime's workers, whatever the machine
        "-Djava.util.concurrent.ForkJoinPool.common.parallelism=" + TaskThroughputBenchmark.WORKERS,
        "-Djdk.virtualThreadScheduler.parallelism=" + TaskThroughputBenchmark.WORKERS,
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        // a fixed, pre-touched heap: otherwise the first seconds measure the kernel faulting in the
        // young generation, which charges each contender by the bytes it allocates per task
        "-Xms2g", "-Xmx2g", "-XX:+AlwaysPreTouch"})
public class TaskThroughputBenchmark {
    static final int BATCH = 10_000;
    static final int WORKERS = 2;

    private final Countdown countdown = new Countdown();

    /**
     * {@code free}: the kernel places the threads. {@code split}: the benchmark thread alone on one
     * CPU, every contender's workers on another ({@link Placement}), re-applied at each iteration so
     * that threads a pool started meanwhile are placed too.
     */
    @Param({"free"})
    public String placement;

    /** The CPUs the benchmark thread had before any placement (pinning it narrows what it reads). */
    private List<Integer> cpus;

    @Setup(Level.Iteration)
    public void place() {
        if (cpus == null) {
            cpus = CpuAffinity.allowedCpus();
        }
        switch (placement) {
            case "free" -> { }
            case "split" -> Placement.split(cpus);
            default -> throw new IllegalArgumentException("placement '" + placement + "': free or split");
        }
    }

    /** A worker's task: schedules the whole batch from there. Reused; the Task wrapping it is not. */
    private final Task.ThrowingRunnable stellaneSpawner = () -> {
        for (int i = 0; i < BATCH; i++) {
            Runtime.schedule(Task.of(countdown));
        }
    };

    private final Supplier<Void> countdownSupplier = () -> {
        countdown.run();
        return null;
    };

    private final Runnable commonPoolSpawner = () -> {
        for (int i = 0; i < BATCH; i++) {
            CompletableFuture.runAsync(countdown);
        }
    };

    // ---------------------------------------------------------------- Stellane

    /** One runtime per trial: {@value #WORKERS} workers, one strategy, one backend. */
    @State(Scope.Benchmark)
    public static class StellaneRuntime {
        @Param({"FIFO", "PRIORITY", "AFFINITY", "WORK_STEALING"})
        public TaskSchedulingStrategy strategy;

        /** {@code io_uring} can be added with {@code -p backend=nio,epoll,io_uring} where the kernel allows it. */
        @Param({"nio", "epoll"})
        public String backend;

        @Setup(Level.Trial)
        public void start() {
            Runtime.init(RuntimeConfig.builder()
                    .workerThreads(WORKERS)
                    .strategy(strategy)
                    .backendType(backend)
                    .build());
        }

        @TearDown(Level.Trial)
        public void stop() {
            // Where the tasks ran: shows whether spreading and stealing happened at all.
            String perWorker = Runtime.getWorkerStats().stream()
                    .map(TaskThroughputBenchmark::describe)
                    .collect(Collectors.joining("; "));
            System.out.println("\n[stellane " + strategy + "/" + backend + "] " + perWorker
                    + "; runtime: active " + Runtime.getStats().currentActiveTasks());
            Runtime.stop();
        }
    }

    private static String describe(WorkerStats w) {
        return "worker " + w.workerId() + ": executed " + w.tasksExecuted() + ", stolen " + w.tasksStolen()
                + ", peak queue " + w.peakQueueSize();
    }

    @Benchmark
    public void stellane(StellaneRuntime runtime) {
        countdown.reset(BATCH);
        for (int i = 0; i < BATCH; i++) {
            Runtime.schedule(Task.of(countdown));
        }
        countdown.await("stellane " + runtime.strategy + "/" + runtime.backend);
    }

    @Benchmark
    public void stellaneSpawnFromWorker(StellaneRuntime runtime) {
        countdown.reset(BATCH);
        Runtime.scheduleOnWorker(Task.of(stellaneSpawner), 0);
        countdown.await("stellaneSpawnFromWorker " + runtime.strategy + "/" + runtime.backend);
    }

    // ---------------------------------------------------------------- baselines

    @Benchmark
    public void completableFuture() {
        countdown.reset(BATCH);
        for (int i = 0; i < BATCH; i++) {
            CompletableFuture.runAsync(countdown);
        }
        countdown.await("completableFuture");
    }

    @Benchmark
    public void completableFutureSupply() {
        countdown.reset(BATCH);
        for (int i = 0; i < BATCH; i++) {
            CompletableFuture.supplyAsync(countdownSupplier);
        }
        countdown.await("completableFutureSupply");
    }

    @Benchmark
    public void completableFutureSpawnFromWorker() {
        countdown.reset(BATCH);
        CompletableFuture.runAsync(commonPoolSpawner);
        countdown.await("completableFutureSpawnFromWorker");
    }

    /** Netty's own multi-threaded loop group on NIO, as Stellane's nio backend would be without the runtime. */
    @State(Scope.Benchmark)
    public static class NettyGroup {
        EventLoopGroup group;

        @Setup(Level.Trial)
        public void start() {
            group = new MultiThreadIoEventLoopGroup(WORKERS, NioIoHandler.newFactory());
        }

        @TearDown(Level.Trial)
        public void stop() {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Benchmark
    public void nettyEventLoop(NettyGroup netty) {
        countdown.reset(BATCH);
        EventLoopGroup group = netty.group;
        Countdown c = countdown;
        for (int i = 0; i < BATCH; i++) {
            group.next().execute(c::run); // a fresh Runnable per op, like every other contender
        }
        countdown.await("nettyEventLoop");
    }

    @State(Scope.Benchmark)
    public static class Bare {
        BareHandoff handoff;

        @Setup(Level.Trial)
        public void start() {
            handoff = new BareHandoff(WORKERS);
        }

        @TearDown(Level.Trial)
        public void stop() throws InterruptedException {
            handoff.close();
        }
    }

    @Benchmark
    public void bareHandoff(Bare bare) {
        countdown.reset(BATCH);
        BareHandoff h = bare.handoff;
        Countdown c = countdown;
        for (int i = 0; i < BATCH; i++) {
            h.execute(c::run);
        }
        countdown.await("bareHandoff");
    }

    @State(Scope.Benchmark)
    public static class VirtualThreads {
        final ThreadFactory factory = Thread.ofVirtual().name("bench-vt").factory();
    }

    @Benchmark
    public void virtualThreadPerTask(VirtualThreads threads) {
        countdown.reset(BATCH);
        ThreadFactory factory = threads.factory;
        for (int i = 0; i < BATCH; i++) {
            factory.newThread(countdown).start();
        }
        countdown.await("virtualThreadPerTask");
    }
}
