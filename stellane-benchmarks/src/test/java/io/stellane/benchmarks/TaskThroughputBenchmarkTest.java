package io.stellane.benchmarks;

import io.stellane.scheduler.TaskSchedulingStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One invocation of each contender, outside JMH: each must run its whole batch (a lost task fails
 * the countdown after 30 s). Runtimes, loop groups and hand-offs are stopped after; the JDK's common
 * pool and virtual-thread carriers stay, as they do in any JVM. Speed is JMH's business.
 */
class TaskThroughputBenchmarkTest {
    private final TaskThroughputBenchmark bench = new TaskThroughputBenchmark();

    @ParameterizedTest
    @EnumSource(value = TaskSchedulingStrategy.class, names = {"FIFO", "PRIORITY", "AFFINITY", "WORK_STEALING"})
    void stellaneRunsItsBatchFromOffAndOnTheRuntime(TaskSchedulingStrategy strategy) {
        TaskThroughputBenchmark.StellaneRuntime runtime = new TaskThroughputBenchmark.StellaneRuntime();
        runtime.strategy = strategy;
        runtime.backend = "nio";
        runtime.start();
        try {
            assertThatCode(() -> {
                bench.stellane(runtime);
                bench.stellaneSpawnFromWorker(runtime);
            }).doesNotThrowAnyException();
        } finally {
            runtime.stop();
        }
    }

    @Test
    void placementIsFreeOrSplit() {
        bench.placement = "free";
        assertThatCode(bench::place).doesNotThrowAnyException();
        bench.placement = "pinned";
        assertThatThrownBy(bench::place).hasMessageContaining("free or split");
    }

    @Test
    void baselinesRunTheirBatch() throws Exception {
        assertThatCode(() -> {
            bench.completableFuture();
            bench.completableFutureSupply();
            bench.completableFutureSpawnFromWorker();
            bench.virtualThreadPerTask(new TaskThroughputBenchmark.VirtualThreads());
        }).doesNotThrowAnyException();

        TaskThroughputBenchmark.NettyGroup netty = new TaskThroughputBenchmark.NettyGroup();
        netty.start();
        try {
            assertThatCode(() -> bench.nettyEventLoop(netty)).doesNotThrowAnyException();
        } finally {
            netty.stop();
        }

        TaskThroughputBenchmark.Bare bare = new TaskThroughputBenchmark.Bare();
        bare.start();
        try {
            assertThatCode(() -> bench.bareHandoff(bare)).doesNotThrowAnyException();
        } finally {
            bare.stop();
        }
    }
}
