package io.stellane;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The README's {@code Task<T>} example, as written there (printing replaced by a capture and a stop). */
class ReadmeExampleTest {
    @Test
    void theReadmeExampleRuns() throws Exception {
        AtomicReference<String> printed = new AtomicReference<>();
        Runtime.init(RuntimeConfig.builder()
                .workerThreads(4)
                .strategy(TaskSchedulingStrategy.WORK_STEALING)
                .build());
        try {
            Task<String> greeting = Task.blocking(() -> "hello")
                    .flatMap(s -> Task.sleep(Duration.ofMillis(10)).map(v -> s + ", world"))
                    .timeout(Duration.ofSeconds(1))
                    .named("greet");
            Runtime.schedule(greeting.map(s -> {
                printed.set(s);
                Runtime.stop();
                return s;
            }));
            Thread main = Thread.ofPlatform().start(Runtime::start);
            main.join(10_000);
            assertThat(main.isAlive()).isFalse();
            assertThat(printed.get()).isEqualTo("hello, world");
        } finally {
            Runtime.stop();
        }
    }
}
