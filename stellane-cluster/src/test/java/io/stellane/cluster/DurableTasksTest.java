package io.stellane.cluster;

import io.stellane.cluster.DurableTasks.Submission;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Durable tasks on a real PostgreSQL, each test in its own schema, nodes in this JVM sharing one runtime.
 * The crash of a whole process is in {@link DurableTasksProcessTest}.
 */
class DurableTasksTest {
    private static final Duration LEASE = Duration.ofSeconds(1);
    private final TestDatabase db = new TestDatabase();
    private final StellaneRuntime runtime = StellaneRuntime.create("durable-test");
    /** What the test opened, closed the last first. */
    private final Deque<AutoCloseable> opened = new ArrayDeque<>();
    /** Lets the handlers that wait for the test's end finish. */
    private final CountDownLatch end = new CountDownLatch(1);

    @BeforeEach
    void start() {
        runtime.init(runtimeConfig());
    }

    @AfterEach
    void stop() throws Exception {
        end.countDown();
        for (AutoCloseable c; (c = opened.pollFirst()) != null; ) {
            c.close();
        }
        runtime.stop();
        db.close();
    }

    private static RuntimeConfig runtimeConfig() {
        return RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(2)).build();
    }

    /** Polls every 100 ms, backs off 20..100 ms, gives running tasks 2 s at close. */
    private static DurableTasksConfig fast() {
        return DurableTasksConfig.defaults().withPollInterval(Duration.ofMillis(100))
                .withBackoff(Duration.ofMillis(20), Duration.ofMillis(100)).withCloseTimeout(Duration.ofSeconds(2));
    }

    private ClusterNode join(String name, Duration lease) {
        ClusterNode node = ClusterNode.join(db.node(name, lease));
        opened.push(node);
        return node;
    }

    private DurableTasks open(ClusterNode node, StellaneRuntime rt, DurableTasksConfig config) {
        DurableTasks tasks = DurableTasks.open(node, rt, config);
        opened.push(tasks);
        return tasks;
    }

    private DurableTasks open(ClusterNode node, DurableTasksConfig config) {
        return open(node, runtime, config);
    }

    private DurableTasks open(String name) {
        return open(join(name, LEASE), fast());
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10)); // a poll, not a wait for the condition
        }
    }

    private long count(String where) {
        return db.number("SELECT count(*) FROM stellane_task WHERE " + where);
    }

    private String row(String id, String columns) {
        List<String> r = db.column("SELECT " + columns + " FROM stellane_task WHERE id = '" + id + "'");
        return r.isEmpty() ? null : r.getFirst();
    }

    private static List<Submission> many(String name, String prefix, int n) {
        return IntStream.range(0, n).mapToObj(i -> Submission.of(name, "p" + i).id(prefix + i)).toList();
    }

    /** A handler that waits (on a virtual thread) for the end of the test. */
    private DurableTaskHandler untilTheEnd() {
        return t -> Task.blocking(() -> {
            end.await();
            return null;
        });
    }

    private static DurableTasks.Listener recorder(List<String> events) {
        return new DurableTasks.Listener() {
            @Override public void submitted() { events.add("submitted"); }
            @Override public void claimed() { events.add("claimed"); }
            @Override public void completed() { events.add("completed"); }
            @Override public void failedAttempt() { events.add("failedAttempt"); }
            @Override public void quarantined() { events.add("quarantined"); }
        };
    }

    // ---------------------------------------------------------------- running

    @Test
    void aSubmittedTaskRunsOnceWithItsPayloadAndEndsDone() {
        DurableTasks tasks = open("a");
        List<String> events = new CopyOnWriteArrayList<>();
        tasks.addListener(recorder(events));
        List<DurableTaskContext> seen = new CopyOnWriteArrayList<>();
        tasks.register("greet", t -> {
            seen.add(t);
            return Task.completed(null);
        });

        String id = tasks.submit("greet", "héllo".getBytes(UTF_8)).await();
        await("done", () -> "2".equals(row(id, "state")));
        await("counted", () -> tasks.stats().completed() == 1);

        assertThat(UUID.fromString(id)).as("a random id").isNotNull();
        assertThat(seen).singleElement().satisfies(t -> {
            assertThat(t.id()).isEqualTo(id);
            assertThat(t.name()).isEqualTo("greet");
            assertThat(t.queue()).isEqualTo("default");
            assertThat(t.payloadString()).isEqualTo("héllo");
            assertThat(t.payload()).isEqualTo("héllo".getBytes(UTF_8));
            assertThat(t.attempt()).isEqualTo(1);
            assertThat(t.maxAttempts()).isEqualTo(10);
            assertThat(t.lastError()).isNull();
        });
        DurableTaskStats stats = tasks.stats();
        assertThat(stats).isEqualTo(new DurableTaskStats(1, 1, 1, 0, 0, 0, stats.ready()));
        assertThat(events).containsExactlyInAnyOrder("submitted", "claimed", "completed");
        assertThat(row(id, "owner || ':' || owner_epoch || ':' || attempts")).isEqualTo("a:1:1");
    }

    @Test
    void withAKeyTheHandlerSeesThePayloadAndNodesWithOtherKeysAreRefused() {
        io.stellane.recovery.EncryptionKey key = io.stellane.recovery.testing.TestRequests.KEY;
        DurableTasks tasks = open(join("a", LEASE), fast().withEncryptionKey(key));
        List<String> seen = new CopyOnWriteArrayList<>();
        tasks.register("greet", t -> {
            seen.add(t.payloadString());
            return Task.completed(null);
        });
        String id = tasks.submit("greet", "secret-7f3a".getBytes(UTF_8)).await();
        await("ran", () -> seen.size() == 1);
        assertThat(seen).containsExactly("secret-7f3a");
        assertThat(row(id, "position('secret-7f3a'::bytea in payload)")).isEqualTo("0");

        assertThatThrownBy(() -> open(join("b", LEASE), fast().withEncryptionKey(io.stellane.recovery.testing.TestRequests.OTHER_KEY)))
                .isInstanceOf(io.stellane.recovery.RecoveryException.class).hasMessageContaining("same key");
        assertThatThrownBy(() -> open(join("c", LEASE), fast()))
                .isInstanceOf(io.stellane.recovery.RecoveryException.class).hasMessageContaining("same key");
    }

    @Test
    void aListenerThatThrowsStopsNothing() {
        DurableTasks tasks = open("a");
        tasks.addListener(new DurableTasks.Listener() {
            @Override
            public void claimed() {
                throw new IllegalStateException("a broken meter");
            }
        });
        tasks.register("n", t -> Task.completed(null));
        tasks.submitAll(many("n", "n", 3)).await();
        await("all done", () -> count("state = 2") == 3);
    }

    @Test
    void aSubmissionWakesTheNodesAtOnceWithoutAPoll() throws Exception {
        // an hour between polls and a minute's lease (upkeep every 30 s): only the notification brings the task
        DurableTasks tasks = open(join("a", Duration.ofMinutes(1)), fast().withPollInterval(Duration.ofHours(1)));
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch second = new CountDownLatch(1);
        tasks.register("ping", t -> Task.of(t.id().equals("first") ? first::countDown : second::countDown));
        tasks.submit("ping", new byte[0], "first").await();
        assertThat(first.await(20, TimeUnit.SECONDS)).isTrue(); // now the node listens and has settled into its wait

        tasks.submit("ping", new byte[0], "second").await();
        assertThat(second.await(20, TimeUnit.SECONDS)).as("picked up by its notification").isTrue();
    }

    @Test
    void aFailingTaskIsRetriedAfterAGrowingBackoffUntilItSucceeds() {
        DurableTasks tasks = open(join("a", LEASE), fast().withBackoff(Duration.ofMillis(200), Duration.ofSeconds(5)));
        List<DurableTaskContext> seen = new CopyOnWriteArrayList<>();
        List<Long> startedAt = new CopyOnWriteArrayList<>();
        tasks.register("flaky", t -> {
            seen.add(t);
            startedAt.add(System.nanoTime());
            return t.attempt() < 3 ? Task.failed(new IllegalStateException("boom " + t.attempt())) : Task.completed(null);
        });
        String id = tasks.submit("flaky", new byte[0]).await();
        await("done", () -> "2".equals(row(id, "state")));

        assertThat(seen).extracting(DurableTaskContext::attempt).containsExactly(1, 2, 3);
        assertThat(seen.get(0).lastError()).isNull();
        assertThat(seen.get(1).lastError()).isEqualTo("java.lang.IllegalStateException: boom 1");
        assertThat(seen.get(2).lastError()).isEqualTo("java.lang.IllegalStateException: boom 2");
        // the backoff's jitter goes down to 80 %: at least 160 ms, then at least 320 ms
        assertThat(startedAt.get(1) - startedAt.get(0)).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(160));
        assertThat(startedAt.get(2) - startedAt.get(1)).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(320));
        await("counted", () -> tasks.stats().completed() == 1);
        assertThat(tasks.stats().failedAttempts()).isEqualTo(2);
        assertThat(tasks.stats().claimed()).isEqualTo(3);
    }

    @Test
    void theBackoffDoublesVariesByAFifthAndIsCapped() {
        DurableTasksConfig c = DurableTasksConfig.defaults().withBackoff(Duration.ofMillis(100), Duration.ofSeconds(1));
        assertThat(IntStream.rangeClosed(1, 5).mapToObj(n -> c.backoff(n, 0.5).toMillis()).toList())
                .containsExactly(100L, 200L, 400L, 800L, 1000L);
        assertThat(c.backoff(1, 0.0)).isEqualTo(Duration.ofMillis(80));
        assertThat(c.backoff(1, 0.999)).isBetween(Duration.ofMillis(119), Duration.ofMillis(120));
        assertThat(c.backoff(5, 0.999)).as("capped after the jitter").isEqualTo(Duration.ofSeconds(1));
        assertThat(c.backoff(1000, 0.0)).as("no overflow").isEqualTo(Duration.ofMillis(800));
    }

    @Test
    void aTaskThatKeepsFailingIsQuarantinedWithItsLastError() {
        DurableTasks tasks = open("a");
        List<String> events = new CopyOnWriteArrayList<>();
        tasks.addListener(recorder(events));
        AtomicInteger calls = new AtomicInteger();
        tasks.register("doomed", t -> {
            calls.incrementAndGet();
            throw new IllegalStateException("nope " + t.attempt());
        });
        String id = tasks.submit(Submission.of("doomed", "x").maxAttempts(3)).await();
        await("quarantined", () -> "3".equals(row(id, "state")));

        assertThat(row(id, "attempts || ':' || last_error || ':' || (finished_at IS NOT NULL)"))
                .isEqualTo("3:java.lang.IllegalStateException: nope 3:true");
        assertThat(calls).hasValue(3);
        await("counted", () -> tasks.stats().quarantined() == 1);
        assertThat(tasks.stats().failedAttempts()).isEqualTo(3);
        assertThat(tasks.stats().completed()).isZero();
        assertThat(events).filteredOn("quarantined"::equals).hasSize(1);
        assertThat(events).filteredOn("failedAttempt"::equals).hasSize(3);
    }

    @Test
    void anAttemptFailsWhenItsHandlerThrowsReturnsNullFailsOrOutlivesTheTimeout() {
        DurableTasks tasks = open(join("a", LEASE), fast().withTaskTimeout(Duration.ofMillis(300)).withMaxAttempts(1));
        tasks.register("throws", t -> {
            throw new IOException("disk");
        });
        tasks.register("null", t -> null);
        tasks.register("fails", t -> Task.failed(new IllegalArgumentException("bad payload")));
        tasks.register("hangs", t -> Task.from(new CompletableFuture<>()));
        for (String name : List.of("throws", "null", "fails", "hangs")) {
            tasks.submit(name, new byte[0], name).await();
        }
        await("all quarantined", () -> count("state = 3") == 4);
        assertThat(row("throws", "last_error")).isEqualTo("java.io.IOException: disk");
        assertThat(row("null", "last_error")).contains("NullPointerException").contains("returned null");
        assertThat(row("fails", "last_error")).isEqualTo("java.lang.IllegalArgumentException: bad payload");
        assertThat(row("hangs", "last_error")).contains("TimeoutException");
    }

    @Test
    void theSameIdSubmittedTwiceIsOneTaskEvenAfterItIsDone() {
        DurableTasks a = open("a");
        DurableTasks b = open("b");
        List<String> runs = new CopyOnWriteArrayList<>();
        DurableTaskHandler handler = t -> {
            runs.add(t.id() + "=" + t.payloadString());
            return Task.completed(null);
        };
        a.register("once", handler);
        b.register("once", handler);

        Task<String> fromA = a.submit("once", "from a".getBytes(UTF_8), "order-1");
        Task<String> fromB = b.submit("once", "from b".getBytes(UTF_8), "order-1");
        assertThat(List.of(fromA.await(), fromB.await())).containsOnly("order-1");
        await("done", () -> "2".equals(row("order-1", "state")));
        assertThat(b.submit("once", "later".getBytes(UTF_8), "order-1").await()).isEqualTo("order-1");
        assertThat(a.submitAll(List.of(Submission.of("once", "x").id("order-2"), Submission.of("once", "y").id("order-2")))
                .await()).containsExactly("order-2", "order-2");
        await("order-2 done", () -> "2".equals(row("order-2", "state")));
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500)); // five polls: time for a second run, if any

        assertThat(count("true")).isEqualTo(2);
        assertThat(runs).hasSize(2).containsAnyOf("order-1=from a", "order-1=from b").contains("order-2=x");
        assertThat(a.stats().submitted() + b.stats().submitted()).isEqualTo(2);
    }

    @Test
    void eachQueueRunsAtMostItsConcurrencyOnANode() {
        DurableTasks tasks = open(join("a", LEASE), fast().withQueues(Map.of("default", 3, "slow", 2)));
        Map<String, AtomicInteger> now = Map.of("default", new AtomicInteger(), "slow", new AtomicInteger());
        Map<String, AtomicInteger> peak = Map.of("default", new AtomicInteger(), "slow", new AtomicInteger());
        CountDownLatch go = new CountDownLatch(1);
        tasks.register("hold", t -> {
            peak.get(t.queue()).accumulateAndGet(now.get(t.queue()).incrementAndGet(), Math::max);
            return Task.blocking(() -> {
                go.await();
                now.get(t.queue()).decrementAndGet();
                return null;
            });
        });
        List<Submission> all = new ArrayList<>(many("hold", "d", 6));
        many("hold", "s", 6).forEach(s -> all.add(s.queue("slow")));
        tasks.submitAll(all).await();

        await("both queues full", () -> now.get("default").get() == 3 && now.get("slow").get() == 2);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500)); // five polls: time to overrun the limits, if they did
        assertThat(now.get("default")).hasValue(3);
        assertThat(now.get("slow")).hasValue(2);
        assertThat(count("state = 1 AND queue = 'default'")).isEqualTo(3);
        assertThat(count("state = 1 AND queue = 'slow'")).isEqualTo(2);
        assertThat(tasks.stats().running()).isEqualTo(5);

        go.countDown();
        await("all done", () -> count("state = 2") == 12);
        assertThat(peak.get("default")).hasValue(3);
        assertThat(peak.get("slow")).hasValue(2);
    }

    @Test
    void aNodeRunsOnlyTheQueuesOfItsConfig() {
        DurableTasks a = open("a");
        DurableTasks b = open(join("b", LEASE), fast().withQueue("reports", 1));
        List<String> ranOnA = new CopyOnWriteArrayList<>();
        List<String> ranOnB = new CopyOnWriteArrayList<>();
        a.register("report", t -> Task.of(() -> ranOnA.add(t.id())));
        b.register("report", t -> Task.of(() -> ranOnB.add(t.id())));
        a.submit(Submission.of("report", "q3").id("r1").queue("reports")).await();
        await("done", () -> "2".equals(row("r1", "state")));
        assertThat(ranOnB).containsExactly("r1");
        assertThat(ranOnA).isEmpty();
    }

    @Test
    void twoNodesRunEveryTaskOnceBetweenThem() {
        DurableTasks a = open(join("a", LEASE), fast().withQueue("default", 8));
        DurableTasks b = open(join("b", LEASE), fast().withQueue("default", 8));
        Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
        Map<String, AtomicInteger> byNode = Map.of("a", new AtomicInteger(), "b", new AtomicInteger());
        for (DurableTasks node : List.of(a, b)) {
            node.register("work", t -> Task.blocking(() -> {
                runs.computeIfAbsent(t.id(), k -> new AtomicInteger()).incrementAndGet();
                byNode.get(node.node().id()).incrementAndGet();
                Thread.sleep(2); // long enough that neither node takes them all
                return null;
            }));
        }
        a.submitAll(many("work", "w", 400)).await();
        await("all done", () -> count("state = 2") == 400);

        assertThat(runs).hasSize(400);
        assertThat(runs.values()).allSatisfy(n -> assertThat(n).hasValue(1));
        assertThat(byNode.get("a").get()).isPositive();
        assertThat(byNode.get("b").get()).isPositive();
        assertThat(db.number("SELECT count(*) FROM stellane_task WHERE attempts <> 1")).isZero();
    }

    // ---------------------------------------------------------------- failures of nodes

    @Test
    void aCrashedNodesRunningTasksRunAgainOnAnotherNode() {
        ClusterNode nodeA = join("a", LEASE);
        DurableTasks a = open(nodeA, fast());
        a.register("job", untilTheEnd());
        a.submitAll(many("job", "job-", 5)).await();
        await("a runs all five", () -> count("state = 1 AND owner = 'a'") == 5);
        a.crash();
        nodeA.crash();

        DurableTasks b = open("b");
        List<DurableTaskContext> seenByB = new CopyOnWriteArrayList<>();
        b.register("job", t -> {
            seenByB.add(t);
            return Task.completed(null);
        });
        await("b ran them", () -> count("state = 2") == 5);
        assertThat(db.column("SELECT DISTINCT owner FROM stellane_task")).containsExactly("b");
        assertThat(seenByB).hasSize(5).allSatisfy(t -> {
            assertThat(t.attempt()).isEqualTo(2);
            assertThat(t.lastError()).isEqualTo("node a (epoch 1) stopped while running attempt 1");
        });

        end.countDown(); // a's attempts end now: a wrote nothing, and writes nothing
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(300));
        assertThat(a.stats().completed()).isZero();
        assertThat(db.column("SELECT DISTINCT owner || ':' || state FROM stellane_task")).containsExactly("b:2");
    }

    @Test
    void aTaskWhoseNodeDiedDuringItsLastAttemptIsQuarantined() {
        ClusterNode nodeA = join("a", LEASE);
        DurableTasks a = open(nodeA, fast());
        a.register("job", untilTheEnd());
        a.submit(Submission.of("job", "x").id("last").maxAttempts(1)).await();
        await("running", () -> "1".equals(row("last", "state")));
        a.crash();
        nodeA.crash();

        DurableTasks b = open("b");
        await("quarantined", () -> "3".equals(row("last", "state")));
        assertThat(row("last", "last_error")).isEqualTo("node a (epoch 1) stopped while running attempt 1");
        await("counted", () -> b.stats().quarantined() == 1);
    }

    @Test
    void aNodeThatLostItsNameClaimsNothing() {
        ClusterNode nodeA = join("a", LEASE);
        DurableTasks a = open(nodeA, fast());
        AtomicInteger ranOnA = new AtomicInteger();
        a.register("job", t -> Task.of(ranOnA::incrementAndGet));
        db.exec("UPDATE stellane_node SET epoch = epoch + 1 WHERE node_id = 'a'"); // another process took the name
        await("a knows", () -> nodeA.fault().isPresent());

        a.submitAll(many("job", "j", 3)).await();
        LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1)); // ten polls
        assertThat(ranOnA).hasValue(0);
        assertThat(count("state = 0")).isEqualTo(3);

        DurableTasks b = open("b");
        b.register("job", t -> Task.completed(null));
        await("b ran them", () -> count("state = 2 AND owner = 'b'") == 3);
        assertThat(ranOnA).hasValue(0);
    }

    @Test
    void closeLetsRunningTasksFinishThenHandsTheRestBack() {
        DurableTasks a = open(join("a", LEASE), fast().withCloseTimeout(Duration.ofSeconds(1)));
        AtomicInteger deafRelease = new AtomicInteger();
        a.register("quick", t -> Task.sleep(Duration.ofMillis(300)));
        a.register("stuck", untilTheEnd()); // interrupted by the cancellation
        a.register("deaf", t -> Task.blocking(() -> { // ignores it
            while (deafRelease.get() == 0) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
            }
            return null;
        }));
        for (String name : List.of("quick", "stuck", "deaf")) {
            a.submit(name, new byte[0], name).await();
        }
        await("all three run", () -> count("state = 1") == 3);

        a.close();
        deafRelease.set(1);
        assertThat(row("quick", "state")).isEqualTo("2");
        for (String handedBack : List.of("stuck", "deaf")) {
            assertThat(row(handedBack, "state || ':' || attempts || ':' || (owner IS NULL)")).isEqualTo("0:0:true");
        }
        assertThat(a.stats().running()).isZero();
        assertThatThrownBy(() -> a.submit("quick", new byte[0])).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> a.register("other", t -> null)).isInstanceOf(IllegalStateException.class);

        DurableTasks b = open("b");
        b.register("stuck", t -> Task.completed(null));
        b.register("deaf", t -> Task.completed(null));
        await("b ran what a handed back", () -> count("state = 2") == 3);
        assertThat(row("stuck", "attempts")).as("the attempt cut short by the close did not count").isEqualTo("1");
    }

    // ---------------------------------------------------------------- submissions

    @Test
    void aHandlerSubmitsFollowUpTasksWithoutBlockingItsWorker() {
        DurableTasks tasks = open("a");
        List<String> seen = new CopyOnWriteArrayList<>();
        tasks.register("first", t -> tasks.submit("second", t.payload(), t.id() + "/next").map(id -> null));
        tasks.register("second", t -> Task.of(() -> seen.add(t.id() + "=" + t.payloadString())));
        tasks.submit("first", "p".getBytes(UTF_8), "f1").await();
        await("both done", () -> count("state = 2") == 2);
        assertThat(seen).containsExactly("f1/next=p");
    }

    @Test
    void delayedTasksWaitForTheirTime() {
        DurableTasks tasks = open("a");
        Map<String, Long> ranAt = new ConcurrentHashMap<>();
        tasks.register("later", t -> Task.of(() -> ranAt.put(t.id(), System.nanoTime())));
        long submitted = System.nanoTime();
        tasks.submit(Submission.of("later", "x").id("in-800ms").delay(Duration.ofMillis(800))).await();
        tasks.submit(Submission.of("later", "x").id("past").runAt(Instant.now().minusSeconds(60))).await();
        await("both ran", () -> ranAt.size() == 2);
        assertThat(ranAt.get("in-800ms") - submitted).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(750));
    }

    @Test
    void tasksWaitForTheRuntimeToRun() throws Exception {
        StellaneRuntime late = StellaneRuntime.create("late");
        opened.push(late::stop);
        DurableTasks tasks = open(join("a", LEASE), late, fast());
        CountDownLatch ran = new CountDownLatch(1);
        tasks.register("w", t -> Task.of(ran::countDown));
        tasks.submit("w", new byte[0], "w1").await();
        await("the ready count sampled", () -> tasks.stats().ready() == 1);
        assertThat(row("w1", "state")).as("not claimed while the runtime is down").isEqualTo("0");

        late.init(runtimeConfig());
        assertThat(ran.await(20, TimeUnit.SECONDS)).isTrue();
        await("the ready count sampled again", () -> tasks.stats().ready() == 0);
    }

    @Test
    void doneTasksAreDeletedAfterTheirRetentionAndTheirIdRunsAgain() {
        DurableTasks tasks = open(join("a", LEASE), fast().withRetention(Duration.ofSeconds(1)));
        AtomicInteger runs = new AtomicInteger();
        tasks.register("r", t -> Task.of(runs::incrementAndGet));
        tasks.submit("r", new byte[0], "r1").await();
        await("done", () -> "2".equals(row("r1", "state")));
        await("purged", () -> row("r1", "state") == null);
        tasks.submit("r", new byte[0], "r1").await();
        await("ran again", () -> runs.get() == 2);
    }

    @Test
    void effectsKeyedByTheTaskIdHappenOnceWhateverTheAttempts() {
        db.exec("CREATE TABLE receipts (task_id text PRIMARY KEY, amount int NOT NULL)");
        db.exec("CREATE TABLE attempts_log (task_id text NOT NULL, attempt int NOT NULL)");
        DurableTasks tasks = open("a");
        tasks.register("charge", t -> Task.blocking(() -> {
            try (Connection c = db.connect()) {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO attempts_log VALUES (?, ?)")) {
                    ps.setString(1, t.id());
                    ps.setInt(2, t.attempt());
                    ps.executeUpdate();
                }
                c.setAutoCommit(false); // the effect: its own transaction, keyed by the task id
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO receipts VALUES (?, ?) ON CONFLICT (task_id) DO NOTHING")) {
                    ps.setString(1, t.id());
                    ps.setInt(2, Integer.parseInt(t.payloadString()));
                    ps.executeUpdate();
                }
                c.commit();
            }
            if (t.attempt() == 1) {
                throw new IllegalStateException("lost after the effect, before the task was recorded done");
            }
            return null;
        }));
        tasks.submit("charge", "100".getBytes(StandardCharsets.UTF_8), "charge-42").await();
        await("done", () -> "2".equals(row("charge-42", "state")));
        assertThat(db.number("SELECT count(*) FROM attempts_log")).isEqualTo(2);
        assertThat(db.column("SELECT task_id || '=' || amount FROM receipts")).containsExactly("charge-42=100");
    }

    // ---------------------------------------------------------------- misuse

    @Test
    void badConfigNamesTheSettingTheValueAndWhatIsAllowed() {
        DurableTasksConfig d = DurableTasksConfig.defaults();
        assertThatThrownBy(() -> d.withPollInterval(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pollInterval is PT0S: allowed is PT0.01S to PT1H");
        assertThatThrownBy(() -> d.withMaxAttempts(0)).hasMessage("maxAttempts is 0: allowed is 1 to 1000");
        assertThatThrownBy(() -> d.withQueue("mail", 0))
                .hasMessage("concurrency of queue 'mail' is 0: allowed is 1 to 10000 tasks at once on this node");
        assertThatThrownBy(() -> d.withQueue(" ", 1)).hasMessageStartingWith("queue name is ' '");
        assertThatThrownBy(() -> d.withQueues(Map.of())).hasMessageContaining("queues is empty");
        assertThatThrownBy(() -> d.withBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .hasMessage("backoffMax is PT1S: allowed is PT2S to PT168H");
        assertThatThrownBy(() -> d.withRetention(Duration.ZERO)).hasMessageStartingWith("retention is PT0S");
        assertThatThrownBy(() -> d.withTaskTimeout(Duration.ofDays(2))).hasMessageStartingWith("taskTimeout is PT48H");
        assertThatThrownBy(() -> d.withCloseTimeout(Duration.ofSeconds(-1))).hasMessageStartingWith("closeTimeout is PT-1S");
        assertThat(d.withQueue("mail", 4).queues()).containsEntry("default", 16).containsEntry("mail", 4);
    }

    @Test
    void badSubmissionsAndRegistrationsAreRefusedAtOnce() {
        assertThatThrownBy(() -> Submission.of("", "x")).hasMessageStartingWith("task name is ''");
        assertThatThrownBy(() -> Submission.of("n", "x").id("i".repeat(201))).hasMessageContaining("task id")
                .hasMessageContaining("1 to 200 characters");
        assertThatThrownBy(() -> Submission.of("n", "x").queue(null)).hasMessageStartingWith("queue name is null");
        assertThatThrownBy(() -> Submission.of("n", "x").maxAttempts(0)).hasMessage("maxAttempts is 0: allowed is 1 to 1000");
        assertThatThrownBy(() -> Submission.of("n", "x").delay(Duration.ofSeconds(-1)))
                .hasMessage("delay is PT-1S: allowed is zero or more");
        DurableTasks tasks = open("a");
        tasks.register("n", t -> null);
        assertThatThrownBy(() -> tasks.register("n", t -> null)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("'n' has a handler on node a already");
        assertThat(tasks.submitAll(List.of()).await()).isEmpty();
    }

    @Test
    void aSubmissionCopiesItsPayload() {
        byte[] payload = "abc".getBytes(UTF_8);
        Submission s = Submission.of("n", payload);
        payload[0] = 'X';
        DurableTasks tasks = open("a");
        String id = tasks.submit(s).await();
        assertThat(row(id, "convert_from(payload, 'UTF8')")).isEqualTo("abc");
        assertThat(s.toString()).isEqualTo("Submission[n, queue default, 3 bytes]");
    }
}
