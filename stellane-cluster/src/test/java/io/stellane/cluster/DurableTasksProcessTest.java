package io.stellane.cluster;

import io.stellane.cluster.DurableTasks.Submission;
import io.stellane.runtime.StellaneRuntime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * The acceptance test of durable tasks: 10,000 tasks over three nodes that are processes of their own
 * ({@link DurableTaskNode}), one of them killed with SIGKILL while it runs tasks. Every task ends done,
 * every effect exists once (its table's primary key is the task id), the killed node's running tasks
 * ran again on the others, all within two minutes of the first submission.
 */
class DurableTasksProcessTest {
    private static final int TASKS = 10_000;
    private static final Duration LEASE = Duration.ofSeconds(3);
    private static final Duration BOUND = Duration.ofMinutes(2);
    private final TestDatabase db = new TestDatabase();
    private final List<Child> children = new ArrayList<>();

    @TempDir
    Path tmp;

    @AfterEach
    void stop() throws Exception {
        for (Child c : children) {
            c.kill();
        }
        db.close();
    }

    /** A node's JVM, started with the test class path, its output read line by line. */
    private static final class Child {
        static final String EOF = "\u0000eof";
        final String node;
        final Process process;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> output = new ArrayList<>();

        Child(TestDatabase db, String node, Path tmp) throws Exception {
            this.node = node;
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
                    "-Djava.io.tmpdir=" + tmp, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                    "-cp", System.getProperty("java.class.path"), DurableTaskNode.class.getName(),
                    db.url, db.user, db.password, node, Long.toString(LEASE.toMillis()), "16");
            process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        lines.add(line);
                    }
                } catch (Exception e) {
                    lines.add("reader failed: " + e);
                } finally {
                    lines.add(EOF);
                }
            }, "child-output-" + node);
            reader.setDaemon(true);
            reader.start();
        }

        void awaitLine(String expected, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (true) {
                String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (line == null || line.equals(EOF)) {
                    fail("node " + node + " printed no '" + expected + "'" + (line == null ? " within " + seconds + " s" : "")
                            + "; its output:\n" + String.join("\n", output));
                }
                output.add(line);
                if (line.equals(expected)) {
                    return;
                }
            }
        }

        /** Asks the node to close (a line on its stdin) and waits for it to say it did. */
        void stopGracefully() throws Exception {
            OutputStream in = process.getOutputStream();
            in.write("stop\n".getBytes(StandardCharsets.UTF_8));
            in.flush();
            awaitLine("stopped " + node, 60);
            assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }

        /** SIGKILL of the process this test started. */
        void kill() throws InterruptedException {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private long number(String sql) {
        return db.number(sql);
    }

    private static void awaitUntil(long deadlineNanos, String what, BooleanSupplier condition) {
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadlineNanos > 0) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            try {
                Thread.sleep(50); // a poll of the database, not a wait for the condition
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    @Test
    void tenThousandTasksOnThreeProcessesOneKilledMidwayAllDoneEachEffectOnce() throws Exception {
        db.exec("CREATE TABLE executions (task_id text NOT NULL, node text NOT NULL, attempt int NOT NULL)");
        db.exec("CREATE TABLE effects (task_id text PRIMARY KEY, node text NOT NULL)");
        // this process submits only: it registers no handler, and its runtime never runs
        try (ClusterNode submitter = ClusterNode.join(db.node("submitter", LEASE));
             DurableTasks tasks = DurableTasks.open(submitter, StellaneRuntime.create("submitter"))) {
            for (String node : List.of("n0", "n1", "n2")) {
                children.add(new Child(db, node, tmp.resolve(node)));
            }
            for (Child c : children) {
                c.awaitLine("ready " + c.node, 90);
            }

            long deadline = System.nanoTime() + BOUND.toNanos();
            for (int from = 0; from < TASKS; from += 500) {
                tasks.submitAll(IntStream.range(from, from + 500)
                        .mapToObj(i -> Submission.of("effect", "payload " + i).id("task-" + i)).toList()).await();
            }
            assertThat(tasks.stats().submitted()).isEqualTo(TASKS);

            Child victim = children.getFirst();
            awaitUntil(deadline, "a third of the effects", () -> number("SELECT count(*) FROM effects") >= TASKS / 3);
            victim.kill();
            List<String> orphaned = db.column("SELECT id FROM stellane_task WHERE state = 1 AND owner = 'n0'");
            long effectsAtKill = number("SELECT count(*) FROM effects");

            awaitUntil(deadline, "every task done", () -> number("SELECT count(*) FROM stellane_task WHERE state = 2") == TASKS);
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - deadline + BOUND.toNanos());

            assertThat(number("SELECT count(*) FROM stellane_task")).isEqualTo(TASKS);
            assertThat(number("SELECT count(*) FROM effects")).as("one effect per task").isEqualTo(TASKS);
            assertThat(number("SELECT count(*) FROM stellane_task t WHERE NOT EXISTS"
                    + " (SELECT 1 FROM effects e WHERE e.task_id = t.id)")).isZero();
            assertThat(orphaned).as("n0 was running tasks when it was killed").isNotEmpty();
            String inList = "'" + String.join("','", orphaned) + "'";
            assertThat(db.column("SELECT DISTINCT owner FROM stellane_task WHERE id IN (" + inList + ")"))
                    .as("the killed node's tasks ended on the others").doesNotContain("n0").isNotEmpty();
            assertThat(number("SELECT min(attempts) FROM stellane_task WHERE id IN (" + inList + ")")).isGreaterThanOrEqualTo(2);
            for (String node : List.of("n0", "n1", "n2")) {
                assertThat(number("SELECT count(*) FROM executions WHERE node = '" + node + "'")).as("executions on " + node)
                        .isPositive();
            }
            long executions = number("SELECT count(*) FROM executions");
            long twice = number("SELECT count(*) FROM (SELECT task_id FROM executions GROUP BY task_id HAVING count(*) > 1) d");
            long twiceOrphaned = number("SELECT count(*) FROM (SELECT task_id FROM executions WHERE task_id IN (" + inList
                    + ") GROUP BY task_id HAVING count(*) > 1) d");
            assertThat(executions).isGreaterThanOrEqualTo(TASKS);
            System.out.printf("%d tasks done in %d ms; n0 killed after %d effects while running %d tasks; %d executions,"
                            + " %d tasks executed more than once (%d of them running on n0 at the kill), one effect each%n",
                    TASKS, elapsedMs, effectsAtKill, orphaned.size(), executions, twice, twiceOrphaned);

            for (Child c : children.subList(1, children.size())) {
                c.stopGracefully();
            }
        }
    }
}
