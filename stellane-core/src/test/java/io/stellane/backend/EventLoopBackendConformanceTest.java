package io.stellane.backend;

import io.stellane.StellaneException;
import io.stellane.internal.TaskAccess;
import io.stellane.runtime.Runtime;
import io.stellane.scheduler.Schedulers;
import io.stellane.scheduler.TaskScheduler;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.task.Task;
import io.stellane.task.TaskErrorHandler;
import io.stellane.task.Worker;
import io.stellane.task.WorkerThread;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static io.stellane.runtime.testing.RuntimeFixture.workerId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What every {@link EventLoopBackend} must do (the spec's implementation requirements). A backend is
 * done when its subclass of this suite passes.
 */
public abstract class EventLoopBackendConformanceTest {

    /** The registered name of the backend under test. */
    protected abstract String backend();

    @AfterEach
    void stopRuntime() {
        Runtime.stop();
    }

    @Test
    void runsTasksScheduledFromManyThreadsOnWorkerThreads() throws Exception {
        Runtime.init(config(backend(), 2).build());
        int producers = 4, perProducer = 2_500;
        CountDownLatch done = new CountDownLatch(producers * perProducer);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        List<Thread> started = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            started.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < perProducer; i++) {
                    Runtime.schedule(Task.of(() -> {
                        assertThat(Thread.currentThread()).isInstanceOf(WorkerThread.class);
                        threads.add(Thread.currentThread().getName());
                        done.countDown();
                    }));
                }
            }));
        }
        for (Thread t : started) {
            t.join();
        }
        await(done);
        assertThat(threads).allMatch(n -> n.startsWith("stellane-worker-"));
        eventually("stats count every task", () -> Runtime.getStats().totalTasksExecuted() == producers * perProducer);
    }

    @Test
    void pendingTasksCountsWhatIsQueued() {
        Runtime.init(config(backend(), 1).build());
        CountDownLatch release = holdWorker(0);
        EventLoopBackend b = Runtime.backends().getFirst();
        CountDownLatch ran = new CountDownLatch(10);
        for (int i = 0; i < 10; i++) {
            Runtime.scheduleOnWorker(Task.of(ran::countDown), 0);
        }
        assertThat(b.pendingTasks()).isEqualTo(10);
        release.countDown();
        await(ran);
        eventually("queue drained", () -> b.pendingTasks() == 0);
    }

    @Test
    void aFailingTaskDoesNotStopTheLoop() {
        Runtime.init(config(backend(), 1).build());
        AtomicInteger reported = new AtomicInteger();
        TaskErrorHandler handler = (e, t) -> reported.incrementAndGet();
        Runtime.onTaskError(handler);
        try {
            for (int i = 0; i < 5; i++) {
                Runtime.schedule(Task.of(() -> {
                    throw new IllegalStateException("task failure " + 1);
                }));
                Runtime.schedule(Task.supply(() -> {
                    throw new OutOfMemoryError("simulated");
                }));
            }
            CountDownLatch after = new CountDownLatch(1);
            Runtime.schedule(Task.of(after::countDown));
            await(after);
            eventually("failures reported", () -> reported.get() == 10);
            assertThat(Runtime.getStats().totalTasksFailed()).isEqualTo(10);
            assertThat(Runtime.backends().getFirst().isRunning()).isTrue();
        } finally {
            Runtime.removeTaskErrorHandler(handler);
        }
    }

    @Test
    void stopRunsQueuedTasksBeforeTheLoopEnds() throws Exception {
        Runtime.init(config(backend(), 1).build());
        CountDownLatch release = holdWorker(0);
        AtomicInteger ran = new AtomicInteger();
        for (int i = 0; i < 100; i++) {
            Runtime.schedule(Task.of(ran::incrementAndGet));
        }
        EventLoopBackend b = Runtime.backends().getFirst();
        Thread stopper = Thread.ofPlatform().start(Runtime::stop);
        eventually("stop has begun", () -> !Runtime.isRunning());
        assertThatThrownBy(() -> Runtime.schedule(Task.of(() -> { })))
                .isInstanceOf(StellaneException.class).hasMessageContaining("no new tasks");
        release.countDown();
        stopper.join(10_000);
        assertThat(stopper.isAlive()).isFalse();
        assertThat(ran).as("queued tasks ran before stop returned").hasValue(100);
        assertThat(b.isRunning()).isFalse();
        assertThat(Runtime.liveWorkers()).isZero();
    }

    @Test
    void tasksQueuedByTasksDuringStopStillRun() {
        Runtime.init(config(backend(), 1).build());
        CountDownLatch release = holdWorker(0);
        AtomicInteger ran = new AtomicInteger();
        Runtime.schedule(Task.of(() -> Runtime.schedule(Task.of(ran::incrementAndGet))));
        Thread stopper = Thread.ofPlatform().start(Runtime::stop);
        eventually("stop has begun", () -> !Runtime.isRunning());
        release.countDown();
        try {
            stopper.join(10_000);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertThat(ran).hasValue(1);
    }

    @Test
    void isRunningFollowsTheLifecycle() {
        Runtime.init(config(backend(), 2).build());
        List<EventLoopBackend> backends = Runtime.backends();
        eventually("loops run", () -> backends.stream().allMatch(EventLoopBackend::isRunning));
        Runtime.stop();
        assertThat(backends).noneMatch(EventLoopBackend::isRunning);
    }

    @Test
    void timersAndBlockingResultsComeBackToTheWorker() {
        Runtime.init(config(backend(), 2).build());
        AtomicReference<String> sleptOn = new AtomicReference<>();
        AtomicReference<String> blockingContinuedOn = new AtomicReference<>();
        AtomicReference<Boolean> blockingWasVirtual = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(2);
        Runtime.scheduleOnWorker(Task.of(() -> Task.sleep(Duration.ofMillis(20)).onComplete((v, e) -> {
            sleptOn.set(Thread.currentThread().getName());
            done.countDown();
        })), 1);
        Runtime.scheduleOnWorker(Task.of(() -> Task.blocking(() -> Thread.currentThread().isVirtual()).onComplete((v, e) -> {
            blockingWasVirtual.set(v);
            blockingContinuedOn.set(Thread.currentThread().getName());
            done.countDown();
        })), 1);
        await(done);
        assertThat(sleptOn.get()).isEqualTo("stellane-worker-1");
        assertThat(blockingWasVirtual.get()).isTrue();
        assertThat(blockingContinuedOn.get()).isEqualTo("stellane-worker-1");
    }

    @Test
    void awaitOnAWorkerFailsAtOnceAndSaysWhatToDo() {
        Runtime.init(config(backend(), 1).build());
        AtomicReference<Throwable> error = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Runtime.schedule(Task.of(() -> {
            try {
                Task.sleep(Duration.ofSeconds(5)).await();
            } catch (Throwable t) {
                error.set(t);
            }
            done.countDown();
        }));
        await(done);
        assertThat(error.get()).isInstanceOf(StellaneException.class)
                .hasMessageContaining("worker 0")
                .hasMessageContaining("block the event loop")
                .hasMessageContaining("Task.blocking");
    }

    @Test
    void theBackendContractHoldsWithoutTheRuntime() throws Exception {
        EventLoopBackend b = RuntimeFactory.createBackend(backend());
        TaskScheduler queue = Schedulers.factoryFor(TaskSchedulingStrategy.FIFO, "").create(0);
        AtomicReference<Thread> loopThread = new AtomicReference<>();
        Thread thread = new Thread(() -> b.run(), "bare-loop");
        loopThread.set(thread);
        b.bind(new BareWorker(thread, queue));
        assertThat(b.isRunning()).isFalse();
        thread.start();
        eventually("running", b::isRunning);
        CountDownLatch ran = new CountDownLatch(50);
        for (int i = 0; i < 50; i++) {
            b.schedule(Task.of(ran::countDown));
        }
        await(ran);
        b.schedule(Task.of(() -> {
            throw new IllegalStateException("must not end the loop");
        }));
        CountDownLatch after = new CountDownLatch(1);
        b.schedule(Task.of(after::countDown));
        await(after);
        b.stop();
        thread.join(10_000);
        assertThat(thread.isAlive()).as("run() returned after stop()").isFalse();
        assertThat(b.isRunning()).isFalse();
        assertThat(b.pendingTasks()).isZero();
    }

    @Test
    void workerIdsMatchTheWorkerThatRuns() {
        Runtime.init(config(backend(), 2).build());
        AtomicReference<Integer> seen = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            seen.set(workerId());
            done.countDown();
        }), 1);
        await(done);
        assertThat(seen.get()).isEqualTo(1);
        assertThat(Worker.current()).as("the test thread is no worker").isNull();
    }

    /** The least a backend can be bound with: one FIFO queue, no stealing, default limits. */
    private record BareWorker(Thread thread, TaskScheduler scheduler) implements Worker {
        @Override
        public int id() {
            return 0;
        }

        @Override
        public void execute(Runnable command) {
            throw new UnsupportedOperationException("a bare worker only drives its backend");
        }

        @Override
        public Future<?> schedule(Runnable command, long delay, TimeUnit unit) {
            throw new UnsupportedOperationException("a bare worker only drives its backend");
        }

        @Override
        public void run(Task<?> task) {
            TaskAccess.get().startQueued(task);
        }

        @Override
        public void taskFailed(Task<?> task, Throwable error) {
        }

        @Override
        public int maxTasksPerLoop() {
            return 64;
        }

        @Override
        public long idleTimeoutNanos() {
            return TimeUnit.MILLISECONDS.toNanos(20);
        }

        @Override
        public int ioBatchSize() {
            return 16;
        }

        @Override
        public boolean zeroCopyIo() {
            return true;
        }

        @Override
        public Task<?> steal() {
            return null;
        }
    }
}
