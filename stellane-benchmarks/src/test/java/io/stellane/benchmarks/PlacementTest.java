package io.stellane.benchmarks;

import io.stellane.runtime.CpuAffinity;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code placement=split} must put the calling thread and the contenders' workers on different CPUs. */
class PlacementTest {

    @Test
    void splitPinsTheCallerToTheFirstCpuAndWorkersToTheLast() throws Exception {
        List<Integer> cpus = CpuAffinity.allowedCpus();
        assumeTrue(cpus.size() >= 2, "needs two CPUs");
        // Pinning is per thread and sticks: only threads of this test's own, which end with it.
        BareHandoff handoff = new BareHandoff(2);
        try {
            CompletableFuture<String> callerAllowed = new CompletableFuture<>();
            Thread.ofPlatform().name("placement-test").start(() -> {
                try {
                    assertThat(Placement.split(cpus, List.of("bare-handoff"))).as("worker threads pinned").isEqualTo(2);
                    callerAllowed.complete(allowed(Placement.currentTid()));
                } catch (Throwable e) {
                    callerAllowed.completeExceptionally(e);
                }
            }).join();
            assertThat(callerAllowed.get()).isEqualTo(String.valueOf(cpus.getFirst()));
            for (Thread worker : handoff.threads()) {
                assertThat(allowed(tidOf(worker.getName()))).as(worker.getName()).isEqualTo(String.valueOf(cpus.getLast()));
            }
        } finally {
            handoff.close();
        }
    }

    @Test
    void refusesWithFewerThanTwoCpus() {
        assertThatThrownBy(() -> Placement.split(List.of(0))).hasMessageContaining("needs two CPUs");
    }

    private static String allowed(long tid) throws java.io.IOException {
        return Files.readAllLines(Path.of("/proc/self/task/" + tid + "/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow()
                .substring("Cpus_allowed_list:".length()).strip();
    }

    private static long tidOf(String name) {
        List<Long> tids = Placement.threadIds(List.of(name));
        assertThat(tids).as("threads named " + name).hasSize(1);
        return tids.getFirst();
    }
}
