package io.stellane.benchmarks;

import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The benchmark's floor must run every task, on its own threads, and wake a parked consumer. */
class BareHandoffTest {

    @Test
    void runsEveryTaskOnEachConsumerAndEndsItsThreads() throws Exception {
        BareHandoff handoff = new BareHandoff(2);
        int n = 20_000;
        CountDownLatch done = new CountDownLatch(n);
        Set<Thread> ranOn = ConcurrentHashMap.newKeySet();
        try {
            for (int i = 0; i < n; i++) {
                handoff.execute(() -> {
                    ranOn.add(Thread.currentThread());
                    done.countDown();
                });
            }
            assertThat(done.await(30, TimeUnit.SECONDS)).as("every task ran").isTrue();
            assertThat(ranOn).hasSize(2).doesNotContain(Thread.currentThread());
        } finally {
            handoff.close();
        }
        assertThat(ranOn).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
    }

    @Test
    void wakesAConsumerThatParkedOnAnEmptyQueue() throws Exception {
        BareHandoff handoff = new BareHandoff(1);
        try {
            Thread consumer = handoff.threads().getFirst();
            for (int round = 0; round < 100; round++) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (consumer.getState() != Thread.State.WAITING) { // asleep before each round's task
                    assertThat(System.nanoTime()).as("the idle consumer parks").isLessThan(deadline);
                    Thread.onSpinWait();
                }
                CountDownLatch ran = new CountDownLatch(1);
                handoff.execute(ran::countDown);
                assertThat(ran.await(30, TimeUnit.SECONDS)).as("round %d woke the consumer", round).isTrue();
            }
        } finally {
            handoff.close();
        }
    }
}
