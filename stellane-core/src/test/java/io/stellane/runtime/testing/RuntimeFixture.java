package io.stellane.runtime.testing;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import io.stellane.task.Worker;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** Helpers for tests that run the (static) runtime: each test inits it and stops it in @AfterEach. */
public final class RuntimeFixture {
    private RuntimeFixture() {
    }

    public static RuntimeConfig.Builder config(String backend, int workers) {
        return RuntimeConfig.builder().backendType(backend).workerThreads(workers)
                .shutdownTimeout(Duration.ofSeconds(10)).idleTimeout(Duration.ofMillis(20));
    }

    /** Waits (up to 10 s) until {@code condition} holds; fails the test otherwise. */
    public static void eventually(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.onSpinWait();
            Thread.yield();
        }
    }

    public static void await(CountDownLatch latch) {
        try {
            assertThat(latch.await(10, TimeUnit.SECONDS)).as("latch reached zero within 10 s").isTrue();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Occupies worker {@code id} until the returned latch is counted down, so that tasks queue up
     * behind it. Returns once the worker is held.
     */
    public static CountDownLatch holdWorker(int id) {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            held.countDown();
            release.await(30, TimeUnit.SECONDS);
        }).named("hold-worker-" + id), id);
        await(held);
        return release;
    }

    /** The id of the worker running the caller, or -1. */
    public static int workerId() {
        Worker w = Worker.current();
        return w == null ? -1 : w.id();
    }

    /** Spins for about {@code micros} microseconds (busy work that keeps a worker occupied). */
    public static void spin(long micros) {
        long end = System.nanoTime() + micros * 1000;
        while (System.nanoTime() < end) {
            Thread.onSpinWait();
        }
    }
}
