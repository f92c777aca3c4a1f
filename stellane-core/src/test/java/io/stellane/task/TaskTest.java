package io.stellane.task;

import io.stellane.StellaneException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Task on its own, off the runtime: laziness, creation, composition, cancellation, await. */
class TaskTest {

    /** Both interfaces in one object: {@code of} must run it, {@code supply} must ask it. */
    private static final class RunsAndSupplies implements Task.ThrowingRunnable, Task.ThrowingSupplier<String> {
        final AtomicInteger runs = new AtomicInteger();

        @Override
        public void run() {
            runs.incrementAndGet();
        }

        @Override
        public String get() {
            return "supplied";
        }
    }

    @Test
    void ofRunsAndSupplyAsksAFunctionThatIsBoth() {
        RunsAndSupplies both = new RunsAndSupplies();
        assertThat(Task.of(both).await()).isNull();
        assertThat(both.runs).hasValue(1);
        assertThat(Task.supply(both).await()).isEqualTo("supplied");
        assertThat(both.runs).hasValue(1);
    }

    @Test
    void aThrowingRunnableOrSupplierFailsItsTask() {
        Task<Void> run = Task.of(() -> {
            throw new IOException("disk");
        });
        assertThatThrownBy(run::await).hasRootCauseInstanceOf(IOException.class);
        Task<String> supply = Task.supply(() -> {
            throw new IllegalStateException("no value");
        });
        assertThatThrownBy(supply::await).isInstanceOf(IllegalStateException.class).hasMessage("no value");
    }

    @Test
    void completedAndFailedTasksAreDoneAtOnce() {
        assertThat(Task.completed(42).isDone()).isTrue();
        assertThat(Task.completed(42).await()).isEqualTo(42);
        IllegalStateException boom = new IllegalStateException("boom");
        Task<Integer> failed = Task.failed(boom);
        assertThat(failed.isFailed()).isTrue();
        assertThatThrownBy(failed::await).isSameAs(boom);
    }

    @Test
    void supplyIsLazyUntilStartedOrAwaited() {
        AtomicInteger runs = new AtomicInteger();
        Task<Integer> task = Task.supply(runs::incrementAndGet);
        assertThat(runs).hasValue(0);
        assertThat(task.isStarted()).isFalse();
        assertThat(task.await()).isEqualTo(1);
        assertThat(task.await()).isEqualTo(1);
        assertThat(runs).as("a task runs once").hasValue(1);
    }

    @Test
    void composedTasksAreLazyToo() {
        AtomicInteger runs = new AtomicInteger();
        Task<Integer> chain = Task.supply(runs::incrementAndGet).map(x -> x * 10).flatMap(x -> Task.completed(x + 1));
        assertThat(runs).hasValue(0);
        assertThat(chain.await()).isEqualTo(11);
        assertThat(runs).hasValue(1);
    }

    @Test
    void metadataIsKept() {
        Instant before = Instant.now().minusMillis(5);
        Task<Void> task = Task.of(() -> { }).named("cleanup").withPriority(7).withAffinityKey("user-1");
        assertThat(task.name()).isEqualTo("cleanup");
        assertThat(task.priority()).isEqualTo(7);
        assertThat(task.affinityKey()).isEqualTo("user-1");
        assertThat(task.createdAt()).isBetween(before, Instant.now().plusMillis(5));
        assertThat(task.toString()).contains("cleanup", "new", "priority 7");
    }

    @Test
    void aThrowingBodyFailsTheTaskAndNothingEscapes() {
        Task<Object> task = Task.supply(() -> {
            throw new IllegalArgumentException("bad input");
        });
        task.start(); // must not throw
        assertThat(task.isFailed()).isTrue();
        assertThat(task.exceptionNow()).isInstanceOf(IllegalArgumentException.class).hasMessage("bad input");
    }

    @Test
    void checkedFailuresAreWrappedByAwaitWithTheTaskName() {
        Task<Object> task = Task.supply(() -> {
            throw new IOException("disk gone");
        }).named("read-file");
        assertThatThrownBy(task::await)
                .isInstanceOf(TaskExecutionException.class)
                .hasMessageContaining("read-file")
                .hasMessageContaining("disk gone")
                .hasCauseInstanceOf(IOException.class);
    }

    @Test
    void blockingRunsOnAVirtualThread() {
        Task<Boolean> task = Task.blocking(() -> Thread.currentThread().isVirtual());
        assertThat(task.await()).isTrue();
    }

    @Test
    void awaitParksAVirtualThread() throws Exception {
        AtomicReference<Object> seen = new AtomicReference<>();
        Thread vt = Thread.ofVirtual().start(() -> seen.set(Task.sleep(Duration.ofMillis(20)).map(v -> "woke").await()));
        vt.join(5000);
        assertThat(seen.get()).isEqualTo("woke");
    }

    @Test
    void fromAdaptsACompletionStage() {
        CompletableFuture<String> cf = new CompletableFuture<>();
        Task<Integer> task = Task.from(cf).map(String::length);
        task.start();
        assertThat(task.isDone()).isFalse();
        cf.complete("hello");
        assertThat(task.await()).isEqualTo(5);
    }

    @Test
    void sleepCompletesAfterItsDelayWithoutBlockingTheStarter() {
        long t0 = System.nanoTime();
        Task<Void> sleep = Task.sleep(Duration.ofMillis(50));
        sleep.start();
        assertThat(sleep.isDone()).as("start() returns before the delay").isFalse();
        sleep.await();
        assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(50));
    }

    @Test
    void allCollectsValuesInOrder() {
        Task<List<Integer>> all = Task.all(
                Task.sleep(Duration.ofMillis(30)).map(v -> 1),
                Task.completed(2),
                Task.blocking(() -> 3));
        assertThat(all.await()).containsExactly(1, 2, 3);
        assertThat(Task.all(List.<Task<Integer>>of()).await()).isEmpty();
    }

    @Test
    void allFailsOnTheFirstFailureAndCancelsTheRest() {
        Task<Void> slow = Task.sleep(Duration.ofSeconds(30));
        Task<List<Object>> all = Task.all(slow.map(v -> (Object) "late"), Task.failed(new IllegalStateException("first")));
        assertThatThrownBy(all::await).isInstanceOf(IllegalStateException.class).hasMessage("first");
        assertThat(slow.isCancelled()).as("the slow member is cancelled").isTrue();
    }

    @Test
    void anyTakesTheFirstSuccessAndCancelsTheOthers() {
        Task<String> slow = Task.sleep(Duration.ofSeconds(30)).map(v -> "slow");
        Task<String> any = Task.any(slow, Task.failed(new IllegalStateException("x")), Task.completed("fast"));
        assertThat(any.await()).isEqualTo("fast");
        assertThat(slow.isCancelled()).isTrue();
    }

    @Test
    void anyFailsOnlyWhenAllFail() {
        Task<String> any = Task.any(Task.failed(new IllegalStateException("a")), Task.failed(new IllegalArgumentException("b")));
        assertThatThrownBy(any::await).isInstanceOf(IllegalStateException.class).hasMessage("a")
                .satisfies(e -> assertThat(e.getSuppressed()).hasSize(1));
        assertThatThrownBy(() -> Task.any(List.<Task<String>>of())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void mapFunctionFailureFailsTheTask() {
        Task<Integer> t = Task.completed("x").map(s -> {
            throw new IllegalStateException("mapper");
        });
        assertThatThrownBy(t::await).hasMessage("mapper");
    }

    @Test
    void recoverReplacesAFailure() {
        assertThat(Task.<Integer>failed(new IllegalStateException("x")).recover(e -> -1).await()).isEqualTo(-1);
        assertThat(Task.completed(5).recover(e -> -1).await()).isEqualTo(5);
        assertThat(Task.<Integer>failed(new IllegalStateException("x"))
                .recoverWith(e -> Task.supply(() -> e.getMessage().length())).await()).isEqualTo(1);
    }

    @Test
    void recoverDoesNotSwallowCancellation() {
        Task<Void> sleep = Task.sleep(Duration.ofSeconds(30));
        Task<Void> recovered = sleep.recover(e -> null);
        recovered.start();
        sleep.cancel();
        assertThatThrownBy(recovered::await).isInstanceOf(CancellationException.class);
    }

    @Test
    void timeoutFailsASlowTaskAndCancelsIt() {
        Task<Void> slow = Task.sleep(Duration.ofSeconds(30));
        Task<Void> limited = slow.named("slow-call").timeout(Duration.ofMillis(30));
        assertThatThrownBy(limited::await)
                .isInstanceOf(TaskExecutionException.class)
                .hasCauseInstanceOf(TimeoutException.class)
                .hasMessageContaining("slow-call");
        assertThat(slow.isCancelled()).isTrue();
    }

    @Test
    void timeoutLetsAFastTaskThrough() {
        assertThat(Task.completed("ok").timeout(Duration.ofSeconds(5)).await()).isEqualTo("ok");
    }

    @Test
    void cancellingAChainCancelsWhatItWaitsFor() {
        Task<Void> sleep = Task.sleep(Duration.ofSeconds(30));
        Task<String> chain = sleep.map(v -> "never");
        chain.start();
        assertThat(chain.cancel()).isTrue();
        assertThat(sleep.isCancelled()).as("upstream cancelled").isTrue();
        assertThat(chain.cancel()).as("second cancel is a no-op").isFalse();
    }

    @Test
    void cancellingABlockingTaskInterruptsItsVirtualThread() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean interrupted = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(1);
        Task<Object> task = Task.blocking(() -> {
            started.countDown();
            try {
                Thread.sleep(30_000);
            } catch (InterruptedException e) {
                interrupted.set(true);
            } finally {
                finished.countDown();
            }
            return null;
        });
        task.start();
        assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
        task.cancel();
        assertThat(finished.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(interrupted).isTrue();
        assertThat(task.isCancelled()).isTrue();
    }

    @Test
    void aTaskCancelledBeforeItStartsNeverRuns() {
        AtomicInteger runs = new AtomicInteger();
        Task<Integer> task = Task.supply(runs::incrementAndGet);
        task.cancel();
        task.start();
        assertThat(runs).hasValue(0);
        assertThatThrownBy(task::await).isInstanceOf(CancellationException.class);
    }

    @Test
    void cancellingFlatMapCancelsTheInnerTask() {
        Task<Void> inner = Task.sleep(Duration.ofSeconds(30));
        Task<Void> outer = Task.completed(1).flatMap(x -> inner);
        outer.start();
        outer.cancel();
        assertThat(inner.isCancelled()).isTrue();
    }

    @Test
    void awaitWithALimitReportsTheTimeout() {
        Task<Void> slow = Task.sleep(Duration.ofSeconds(30)).named("slow");
        assertThatThrownBy(() -> slow.await(Duration.ofMillis(20)))
                .isInstanceOf(TaskExecutionException.class)
                .hasCauseInstanceOf(TimeoutException.class);
        slow.cancel();
    }

    @Test
    void onCompleteSeesValueOrError() {
        AtomicReference<Object> seen = new AtomicReference<>();
        Task.completed("v").onComplete((v, e) -> seen.set(v));
        assertThat(seen.get()).isEqualTo("v");
        Task.failed(new IllegalStateException("e")).onComplete((v, e) -> seen.set(e));
        assertThat(seen.get()).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void toCompletableFutureIsACopy() {
        Task<String> task = Task.supply(() -> "x");
        CompletableFuture<String> cf = task.toCompletableFuture();
        cf.obtrudeValue("tampered");
        assertThat(task.await()).isEqualTo("x");
    }

    @Test
    void aTaskCannotBeScheduledTwice() {
        Task<Void> task = Task.of(() -> { });
        task.markScheduled(-1, 0);
        assertThatThrownBy(() -> task.markScheduled(-1, 0)).isInstanceOf(StellaneException.class)
                .hasMessageContaining("already scheduled");
        Task<Void> started = Task.of(() -> { }).start();
        assertThatThrownBy(() -> started.markScheduled(-1, 0)).hasMessageContaining("already started");
    }
}
