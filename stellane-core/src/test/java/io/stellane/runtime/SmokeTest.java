package io.stellane.runtime;

import io.stellane.backend.RuntimeFactory;
import io.stellane.config.RuntimeConfig;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class SmokeTest {
    @Test
    void runsTasks() throws Exception {
        System.out.println("available: " + RuntimeFactory.available());
        Runtime.init(RuntimeConfig.builder().workerThreads(2).build());
        try {
            CountDownLatch latch = new CountDownLatch(1000);
            for (int i = 0; i < 1000; i++) Runtime.schedule(Task.of(latch::countDown));
            assertThat(latch.await(5, TimeUnit.SECONDS)).isTrue();
            System.out.println(Runtime.getStats());
            System.out.println(Runtime.getWorkerStats());
        } finally {
            Runtime.stop();
        }
    }
}
