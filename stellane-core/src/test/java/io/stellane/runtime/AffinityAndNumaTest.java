package io.stellane.runtime;

import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static org.assertj.core.api.Assertions.assertThat;

class AffinityAndNumaTest {

    @AfterEach
    void stop() {
        Runtime.stop();
        System.clearProperty("stellane.sysfs");
    }

    @Test
    void cpuAffinityPinsEachWorkerAndReportsTheCpu() {
        List<Integer> allowed = CpuAffinity.allowedCpus();
        Runtime.init(config("nio", 2).enableCpuAffinity(true).build());
        AtomicIntegerArray ranOn = new AtomicIntegerArray(new int[]{-2, -2});
        CountDownLatch done = new CountDownLatch(2);
        for (int w = 0; w < 2; w++) {
            int id = w;
            Runtime.scheduleOnWorker(Task.of(() -> {
                ranOn.set(id, CpuAffinity.currentCpu());
                done.countDown();
            }), w);
        }
        await(done);
        List<WorkerStats> stats = Runtime.getWorkerStats();
        for (int w = 0; w < 2; w++) {
            int expected = allowed.get(w % allowed.size());
            assertThat(stats.get(w).pinnedCpu()).isEqualTo(expected);
            assertThat(ranOn.get(w)).as("worker %d runs on its CPU", w).isEqualTo(expected);
        }
    }

    @Test
    void pinsAnotherThreadByItsKernelId() throws Exception {
        List<Integer> allowed = CpuAffinity.allowedCpus();
        int cpu = allowed.getLast();
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        CountDownLatch pinned = new CountDownLatch(1);
        CompletableFuture<List<Integer>> seen = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().name("pin-target").start(() -> {
            try {
                tid.complete(Integer.parseInt(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString()));
                pinned.await();
                seen.complete(CpuAffinity.allowedCpus());
            } catch (Exception e) {
                seen.completeExceptionally(e);
            }
        });
        assertThat(CpuAffinity.pinThread(tid.get(), cpu)).as("error").isNull();
        pinned.countDown();
        t.join();
        assertThat(seen.get()).containsExactly(cpu);
        assertThat(CpuAffinity.allowedCpus()).as("the caller keeps its CPUs").isEqualTo(allowed);
        assertThat(CpuAffinity.pinThread(Integer.MAX_VALUE, cpu)).as("no such thread").contains("returned");
        assertThat(CpuAffinity.pinThread(0, 4096)).contains("out of range");
    }

    @Test
    void parsesTheKernelsCpuListFormat() {
        assertThat(NumaTopology.parseCpuList("0-3,8,10-11")).containsExactly(0, 1, 2, 3, 8, 10, 11);
        assertThat(NumaTopology.parseCpuList("")).isEmpty();
    }

    @Test
    void readsNodesFromSysfs(@TempDir Path sys) throws IOException {
        fakeNodes(sys, "0,2", "1,3");
        NumaTopology t = NumaTopology.detect(sys);
        assertThat(t.nodes()).containsExactly(List.of(0, 2), List.of(1, 3));
        assertThat(t.nodeOf(3)).isEqualTo(1);
        assertThat(t.nodeOf(9)).isEqualTo(-1);
        assertThat(t.cpusByNode()).containsExactly(0, 2, 1, 3);
        assertThat(NumaTopology.detect(sys.resolve("missing")).nodes()).hasSize(1);
    }

    @Test
    void numaAwareStealingTriesSameNodeWorkersFirst(@TempDir Path sys) throws IOException {
        // This machine has one node; hand the runtime two (CPU 0 on node 0, CPU 1 on node 1).
        fakeNodes(sys, "0", "1");
        System.setProperty("stellane.sysfs", sys.toString());
        Runtime.init(config("nio", 4).strategy(TaskSchedulingStrategy.WORK_STEALING).enableNumaAwareness(true).build());
        List<WorkerStats> stats = Runtime.getWorkerStats();
        assertThat(stats).extracting(WorkerStats::numaNode).containsExactly(0, 1, 0, 1);
        assertThat(Runtime.stealOrder(0)).containsExactly(2, 1, 3);
        assertThat(Runtime.stealOrder(1)).containsExactly(3, 2, 0);
        Runtime.stop();

        Runtime.init(config("nio", 4).strategy(TaskSchedulingStrategy.WORK_STEALING).build());
        assertThat(Runtime.stealOrder(0)).as("without NUMA awareness: plain ring order").containsExactly(1, 2, 3);
    }

    private static void fakeNodes(Path sys, String... cpulists) throws IOException {
        for (int n = 0; n < cpulists.length; n++) {
            Path node = Files.createDirectories(sys.resolve("devices/system/node/node" + n));
            Files.writeString(node.resolve("cpulist"), cpulists[n] + "\n");
        }
        Files.createDirectories(sys.resolve("devices/system/node/power")); // not a node
    }
}
